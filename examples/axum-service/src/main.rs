//! Runs the example on `127.0.0.1:3001` (or `PORT`), against `ROSTER_API_URL` with `ROSTER_SECRET_KEY`.

use roster_example_axum::{app, AppState};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let roster = roster_sdk::Client::from_env()?;
    let state = AppState {
        verifier: roster.verifier(),
        roster,
    };
    let port = std::env::var("PORT").unwrap_or_else(|_| "3001".into());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    println!(
        "example service listening on http://{}",
        listener.local_addr()?
    );
    axum::serve(listener, app(state)).await?;
    Ok(())
}

//! The accept loop: what `axum::serve` does, plus the deadline it leaves out. Without a timer,
//! hyper lets a client that connects and then sends its headers slowly, or not at all, keep its
//! socket for as long as it likes; enough such clients use up the file descriptors and the
//! server accepts nobody (a "slowloris"). Bodies have their own deadline (`body::read_limited`).

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceExt;

/// How long a client has to send a request's headers, from when the connection is ready to
/// read one (it opened, or the previous response went out); an idle keep-alive connection is
/// closed after as long.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves `app` on `listener` until `shutdown` completes, then lets the requests in flight
/// finish. Handlers see the peer address as `ConnectInfo<SocketAddr>` (per-IP limits need it).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    // Each connection holds a receiver; the sender learns when the last one is gone.
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, say: wait rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        tokio::spawn(connection(stream, peer, app.clone(), stopping.clone()));
    }
    drop(listener);
    drop(stopping);
    // Receivers only see a change; nobody listens for the result.
    let _ = stop.send(true);
    stop.closed().await;
    Ok(())
}

async fn connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    app: Router,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) {
    let service = app.map_request(move |mut req: axum::extract::Request<_>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        req
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
        .with_upgrades();
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        // A failed connection (the client went away, a deadline passed) concerns nobody else.
        _ = conn.as_mut() => return,
        _ = stopping.changed() => conn.as_mut().graceful_shutdown(),
    }
    let _ = conn.await;
}

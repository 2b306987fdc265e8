//! A typed client for Roster's Backend API (Clerk-compatible).
//!
//! ```no_run
//! # async fn run() -> Result<(), roster_sdk::Error> {
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, Serialize, Deserialize, Default)]
//! struct Role { role: Option<String> }
//!
//! let roster = roster_sdk::Client::from_env()?;
//! let user = roster.users().get_typed::<Role, serde_json::Value, serde_json::Value>("user_123").await?;
//! println!("{:?}", user.public_metadata.role);
//! # Ok(()) }
//! ```
//!
//! This crate depends on the wire types (`roster-proto`) only, never on the server.

#[cfg(feature = "axum")]
pub mod axum;
mod error;
mod sessions;
mod users;
mod verify;

use std::time::Duration;

pub use error::{ApiFailure, Error};
pub use sessions::{Sessions, Tokens};
pub use users::{CreateUser, ListUsers, MetadataUpdate, UpdateUser, User, Users};
pub use verify::{SessionClaims, Verifier, VerifyError};

/// How the client talks to Roster: base URL, secret key, timeouts and retries.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base_url: String,
    secret_key: String,
    max_retries: u32,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.base_url)
            .field("secret_key", &"***")
            .finish()
    }
}

impl Client {
    /// A client for `base_url` (e.g. `http://127.0.0.1:4000`, without `/v1`).
    pub fn new(
        base_url: impl Into<String>,
        secret_key: impl Into<String>,
    ) -> Result<Client, Error> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(Error::Transport)?;
        Ok(Client {
            http,
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            secret_key: secret_key.into(),
            max_retries: 3,
        })
    }

    /// A client from `ROSTER_API_URL` (default `http://127.0.0.1:4000`) and `ROSTER_SECRET_KEY`.
    pub fn from_env() -> Result<Client, Error> {
        let url =
            std::env::var("ROSTER_API_URL").unwrap_or_else(|_| "http://127.0.0.1:4000".into());
        let key = std::env::var("ROSTER_SECRET_KEY")
            .map_err(|_| Error::Config("ROSTER_SECRET_KEY is not set".into()))?;
        Client::new(url, key)
    }

    /// How many times a transient failure (connection error, 429, 503) is retried, with
    /// exponential backoff from 100 ms (honouring `Retry-After`). Default 3; 0 disables retries.
    pub fn with_max_retries(mut self, max_retries: u32) -> Client {
        self.max_retries = max_retries;
        self
    }

    /// User and metadata operations.
    pub fn users(&self) -> Users<'_> {
        Users { client: self }
    }

    /// Sessions and their tokens.
    pub fn sessions(&self) -> Sessions<'_> {
        Sessions { client: self }
    }

    /// JWT templates, custom session claims and the JWKS.
    pub fn tokens(&self) -> Tokens<'_> {
        Tokens { client: self }
    }

    /// A token verifier that fetches and caches this instance's JWKS.
    pub fn verifier(&self) -> Verifier {
        Verifier::from_client(self.clone())
    }

    pub(crate) async fn send<T: serde::de::DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(String, String)],
        body: Option<&serde_json::Value>,
    ) -> Result<T, Error> {
        let url = format!("{}/v1{path}", self.base_url);
        let mut attempt = 0;
        loop {
            let mut req = self
                .http
                .request(method.clone(), &url)
                .bearer_auth(&self.secret_key)
                .query(query);
            if let Some(b) = body {
                req = req.json(b);
            }
            let outcome = match req.send().await {
                Ok(resp) => error::read(resp).await,
                Err(e) => Err(Error::Transport(e)),
            };
            match outcome {
                Err(e) if e.is_transient() && attempt < self.max_retries => {
                    let backoff = Duration::from_millis(100 * 2u64.pow(attempt));
                    let wait = e
                        .retry_after()
                        .map(Duration::from_secs)
                        .unwrap_or(backoff)
                        .min(Duration::from_secs(30));
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

//! A typed Rust client for Roster's Backend API, the server-side half of Clerk's API.
//!
//! [`Client`] holds a base URL and a secret key (`sk_…`); from it come
//!
//! - [`Users`]: create, get, list, count, update, ban, lock, delete, verify passwords, and the
//!   three metadata tiers, decoded into your own serde types with [`Users::get_typed`], and
//!   read-modify-write without lost updates ([`Users::modify_metadata`], on the user's `ETag`);
//! - [`Sessions`]: sessions and their tokens, plain or from a JWT template;
//! - [`Tokens`]: JWT templates, the instance's custom session claims and its public keys (JWKS);
//! - [`Verifier`]: session-token verification in your service without a call to Roster per
//!   request, and with the `axum` feature, extractors for axum handlers (`roster_sdk::axum`).
//!
//! Every failure is one [`Error`]; Roster's own answers carry their status, Clerk error code,
//! `param_name`, trace id and `Retry-After` in [`ApiFailure`]. Connection failures, timeouts,
//! 429 and 503 are retried with backoff ([`Client::with_max_retries`]).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), roster_sdk::Error> {
//! # if std::env::var("ROSTER_API_URL").is_err() { return Ok(()) }
//! # let unique = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
//! use roster_sdk::{Client, CreateUser, MetadataUpdate};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, Default, Serialize, Deserialize)]
//! struct Role {
//!     role: Option<String>,
//! }
//!
//! let roster = Client::from_env()?;
//! let user = roster
//!     .users()
//!     .create(&CreateUser {
//!         email_address: vec![format!("ada.{unique}@example.com")],
//!         ..Default::default()
//!     })
//!     .await?;
//! let admin = Role { role: Some("admin".into()) };
//! roster
//!     .users()
//!     .update_metadata(&user.id, &MetadataUpdate::default().public(&admin)?)
//!     .await?;
//!
//! let user = roster
//!     .users()
//!     .get_typed::<Role, serde_json::Value, serde_json::Value>(&user.id)
//!     .await?;
//! assert_eq!(user.public_metadata.role.as_deref(), Some("admin"));
//! # roster.users().delete(&user.id).await?;
//! # Ok(()) }
//! ```
//!
//! # Running the examples
//!
//! The examples that need no server (building a [`Client`], matching an [`Error`], verifying
//! with [`Verifier::from_jwks`]) run in every `cargo test`. Those that talk to Roster run only
//! when `ROSTER_API_URL` (the base URL, without `/v1`) and `ROSTER_SECRET_KEY` are set, and
//! return early otherwise; each creates the users and templates it needs, so they can run in
//! parallel against any instance. `scripts/sdk-doctests` starts a throwaway Roster and runs them
//! all against it.
//!
//! This crate depends on the wire types (`roster-proto`) only, never on the server.

#![warn(missing_docs)]

#[cfg(feature = "axum")]
pub mod axum;
mod error;
mod sessions;
mod users;
mod verify;

use std::time::Duration;

pub use error::{ApiFailure, Error};
/// Roster's wire types (`JwksJson`, `SessionJson`, `JwtTemplateJson`, …), re-exported so that
/// callers can name what this crate's methods return without depending on `roster-proto`.
pub use roster_proto as proto;
pub use sessions::{Sessions, Tokens};
pub use users::{CreateUser, ListUsers, MetadataUpdate, Tagged, UpdateUser, User, Users};
pub use verify::{SessionClaims, Verifier, VerifyError};

/// The README's code blocks, compiled as doc tests so that they keep up with the API. They
/// define functions without calling them, so they need no server.
#[cfg(all(doctest, feature = "axum"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// A client for one Roster instance's Backend API, authenticated with a secret key.
///
/// Requests go to `{base_url}/v1/…` with `Authorization: Bearer {secret_key}` and a 30 s
/// timeout; transient failures are retried (see [`Client::with_max_retries`]). Cloning is cheap
/// and shares the connection pool, so build one and pass it around. `Debug` masks the secret key.
///
/// ```
/// # fn main() -> Result<(), roster_sdk::Error> {
/// use roster_sdk::Client;
///
/// let roster = Client::new("http://127.0.0.1:4000/", "sk_test_example")?.with_max_retries(5);
/// assert_eq!(
///     format!("{roster:?}"),
///     r#"Client { base_url: "http://127.0.0.1:4000", secret_key: "***" }"#
/// );
/// # Ok(()) }
/// ```
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
    /// A client for the instance at `base_url` (e.g. `http://127.0.0.1:4000`, without `/v1`; a
    /// trailing `/` is ignored), authenticated with `secret_key`. Sends nothing yet.
    ///
    /// Fails with [`Error::Transport`] only if the HTTP client cannot be built (TLS set-up).
    pub fn new(
        base_url: impl Into<String>,
        secret_key: impl Into<String>,
    ) -> Result<Client, Error> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            // Roster closes a keep-alive connection idle for 30 s; letting go of it first means
            // never sending a request on one the server is closing.
            .pool_idle_timeout(Duration::from_secs(20))
            .build()
            .map_err(Error::Transport)?;
        Ok(Client {
            http,
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            secret_key: secret_key.into(),
            max_retries: 3,
        })
    }

    /// A client from `ROSTER_API_URL` (the base URL without `/v1`, default
    /// `http://127.0.0.1:4000`) and `ROSTER_SECRET_KEY`.
    ///
    /// Fails with [`Error::Config`] when `ROSTER_SECRET_KEY` is not set.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), roster_sdk::Error> {
    /// # if std::env::var("ROSTER_API_URL").is_err() { return Ok(()) }
    /// let roster = roster_sdk::Client::from_env()?;
    /// let jwks = roster.tokens().jwks().await?;
    /// assert!(!jwks.keys.is_empty());
    /// # Ok(()) }
    /// ```
    pub fn from_env() -> Result<Client, Error> {
        let url =
            std::env::var("ROSTER_API_URL").unwrap_or_else(|_| "http://127.0.0.1:4000".into());
        let key = std::env::var("ROSTER_SECRET_KEY")
            .map_err(|_| Error::Config("ROSTER_SECRET_KEY is not set".into()))?;
        Client::new(url, key)
    }

    /// How many times a transient failure ([`Error::is_transient`]: connection error or timeout,
    /// 429, 503) is retried. Default 3; 0 disables retries.
    ///
    /// Retries wait 100 ms, 200 ms, 400 ms, …, or the answer's `Retry-After` when it has one,
    /// each at most 30 s.
    /// Every method is retried, writes included: a write that timed out may have been applied,
    /// so its retry can fail with e.g. `form_identifier_exists`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), roster_sdk::Error> {
    /// use std::time::{Duration, Instant};
    ///
    /// // Nothing listens on port 9: two retries, after 100 ms and 200 ms, then the error.
    /// let roster = roster_sdk::Client::new("http://127.0.0.1:9", "sk_test_example")?
    ///     .with_max_retries(2);
    /// let started = Instant::now();
    /// let err = roster.users().get("user_123").await.unwrap_err();
    /// assert!(err.is_transient());
    /// assert!(started.elapsed() >= Duration::from_millis(300));
    /// # Ok(()) }
    /// ```
    pub fn with_max_retries(mut self, max_retries: u32) -> Client {
        self.max_retries = max_retries;
        self
    }

    /// User and metadata operations: [`Users`].
    pub fn users(&self) -> Users<'_> {
        Users { client: self }
    }

    /// Sessions and their tokens: [`Sessions`].
    pub fn sessions(&self) -> Sessions<'_> {
        Sessions { client: self }
    }

    /// JWT templates, custom session claims and the JWKS: [`Tokens`].
    pub fn tokens(&self) -> Tokens<'_> {
        Tokens { client: self }
    }

    /// A token verifier that fetches this instance's JWKS on first use and caches it (see
    /// [`Verifier`]). Make one and share it (clones share the cache).
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
        self.send_conditional(method, path, query, body, None)
            .await
            .map(|(value, _)| value)
    }

    /// [`Client::send`] with an optional `If-Match`, answering the response's `ETag` too. A
    /// conditional request is retried only when it certainly was not applied ([`Error::is_unsent`]):
    /// after a timeout it might have been, and a retry's 412 would then hide that.
    pub(crate) async fn send_conditional<T: serde::de::DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(String, String)],
        body: Option<&serde_json::Value>,
        if_match: Option<&str>,
    ) -> Result<(T, Option<String>), Error> {
        let url = format!("{}/v1{path}", self.base_url);
        let retryable = |e: &Error| match if_match {
            Some(_) => e.is_unsent(),
            None => e.is_transient(),
        };
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
            if let Some(tag) = if_match {
                req = req.header(reqwest::header::IF_MATCH, tag);
            }
            let outcome = match req.send().await {
                Ok(resp) => error::read_tagged(resp).await,
                Err(e) => Err(Error::Transport(e)),
            };
            match outcome {
                Err(e) if attempt < self.max_retries && retryable(&e) => {
                    let backoff =
                        Duration::from_millis(100u64.saturating_mul(2u64.saturating_pow(attempt)));
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

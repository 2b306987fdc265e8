//! axum integration (feature `axum`): extract the signed-in user from the session token.
//!
//! Put a [`Verifier`] in your state (implementing `FromRef`), then take [`Auth`] in handlers to
//! require a valid token (401 otherwise), or `Option<Auth>` / [`OptionalAuth`] to also accept
//! anonymous requests. The token is read from `Authorization: Bearer …`, else from the
//! `__session` cookie that Clerk's frontend SDKs set (see [`session_token`]).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # if std::env::var("ROSTER_API_URL").is_err() { return Ok(()) }
//! use axum::{body::Body, extract::FromRef, http::Request, routing::get, Router};
//! use roster_sdk::axum::Auth;
//! use roster_sdk::{Client, CreateUser, Verifier};
//! use tower::ServiceExt; // for `oneshot`, to call the router without a socket
//!
//! #[derive(Clone, FromRef)]
//! struct AppState {
//!     verifier: Verifier,
//! }
//!
//! async fn whoami(auth: Auth) -> String {
//!     auth.user_id
//! }
//!
//! let roster = Client::from_env()?;
//! let app = Router::new()
//!     .route("/whoami", get(whoami))
//!     .with_state(AppState { verifier: roster.verifier() });
//!
//! // A signed-in user's token, as a browser would send it.
//! let user = roster.users().create(&CreateUser::default()).await?;
//! let session = roster.sessions().create(&user.id).await?;
//! let token = roster.sessions().token(&session.id, None, None).await?;
//!
//! let request = Request::get("/whoami").header("cookie", format!("__session={token}"));
//! let response = app.clone().oneshot(request.body(Body::empty())?).await?;
//! assert_eq!(response.status(), 200);
//! let body = axum::body::to_bytes(response.into_body(), 1024).await?;
//! assert_eq!(body, user.id.as_bytes());
//!
//! let anonymous = app.oneshot(Request::get("/whoami").body(Body::empty())?).await?;
//! assert_eq!(anonymous.status(), 401);
//! # roster.users().delete(&user.id).await?;
//! # Ok(()) }
//! ```

use axum::extract::{FromRef, FromRequestParts, OptionalFromRequestParts};
use axum::http::header::{AUTHORIZATION, COOKIE};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde_json::{json, Map, Value};

use crate::{SessionClaims, Verifier};

/// The signed-in user of a request, from a verified session token; `C` receives the custom
/// claims (see [`SessionClaims`]).
///
/// As an extractor it rejects requests without a valid token with [`Unauthenticated`] (401).
/// `Option<Auth<C>>` gives `None` instead, as does [`OptionalAuth`].
#[derive(Debug, Clone)]
pub struct Auth<C = Map<String, Value>> {
    /// The user id (`sub`).
    pub user_id: String,
    /// The session id (`sid`); `None` for JWT-template tokens.
    pub session_id: Option<String>,
    /// All the token's claims.
    pub claims: SessionClaims<C>,
}

/// The rejection of [`Auth`]: 401 with Clerk's error envelope, code `authentication_invalid`,
/// and why in `long_message` (no token, or the [`VerifyError`](crate::VerifyError) message).
#[derive(Debug)]
pub struct Unauthenticated(pub String);

impl IntoResponse for Unauthenticated {
    fn into_response(self) -> Response {
        let body = json!({"errors": [{
            "code": "authentication_invalid",
            "message": "Invalid authentication",
            "long_message": self.0,
        }]});
        (StatusCode::UNAUTHORIZED, Json(body)).into_response()
    }
}

/// The session token of a request: `Authorization: Bearer …`, else the `__session` cookie.
pub fn session_token(parts: &Parts) -> Option<String> {
    let bearer = parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_owned());
    bearer.or_else(|| {
        parts
            .headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|cookies| {
                cookies
                    .split(';')
                    .find_map(|c| c.trim().strip_prefix("__session=").map(str::to_owned))
            })
    })
}

impl<S, C> FromRequestParts<S> for Auth<C>
where
    Verifier: FromRef<S>,
    S: Send + Sync,
    C: DeserializeOwned + Send + Sync,
{
    type Rejection = Unauthenticated;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let token = session_token(parts)
            .ok_or_else(|| Unauthenticated("No session token was sent.".into()))?;
        let verifier = Verifier::from_ref(state);
        let claims = verifier
            .verify::<C>(&token)
            .await
            .map_err(|e| Unauthenticated(e.to_string()))?;
        Ok(Auth {
            user_id: claims.sub.clone(),
            session_id: claims.sid.clone(),
            claims,
        })
    }
}

/// `Option<Auth>` in a handler: `None` for anonymous or invalid tokens, never a rejection.
impl<S, C> OptionalFromRequestParts<S> for Auth<C>
where
    Verifier: FromRef<S>,
    S: Send + Sync,
    C: DeserializeOwned + Send + Sync,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(
            <Auth<C> as FromRequestParts<S>>::from_request_parts(parts, state)
                .await
                .ok(),
        )
    }
}

/// Accepts anonymous requests: `OptionalAuth(None)` without a valid token, never a rejection.
/// The same as `Option<Auth<C>>`, for those who prefer a named type.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use axum::{body::Body, extract::FromRef, http::Request, routing::get, Router};
/// use roster_sdk::axum::OptionalAuth;
/// use roster_sdk::Verifier;
/// use tower::ServiceExt;
///
/// #[derive(Clone, FromRef)]
/// struct AppState {
///     verifier: Verifier,
/// }
///
/// async fn greet(OptionalAuth(auth): OptionalAuth) -> String {
///     match auth {
///         Some(auth) => format!("hello {}", auth.user_id),
///         None => "hello stranger".to_owned(),
///     }
/// }
///
/// // No keys at all: no token can verify, so every request is anonymous.
/// let verifier = Verifier::from_jwks(&serde_json::from_str(r#"{"keys":[]}"#)?);
/// let app = Router::new().route("/", get(greet)).with_state(AppState { verifier });
///
/// let request = Request::get("/").header("authorization", "Bearer not.a.token");
/// let response = app.oneshot(request.body(Body::empty())?).await?;
/// assert_eq!(response.status(), 200);
/// let body = axum::body::to_bytes(response.into_body(), 1024).await?;
/// assert_eq!(body, "hello stranger");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct OptionalAuth<C = Map<String, Value>>(pub Option<Auth<C>>);

impl<S, C> FromRequestParts<S> for OptionalAuth<C>
where
    Verifier: FromRef<S>,
    S: Send + Sync,
    C: DeserializeOwned + Send + Sync,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(OptionalAuth(
            <Auth<C> as FromRequestParts<S>>::from_request_parts(parts, state)
                .await
                .ok(),
        ))
    }
}

//! axum integration (feature `axum`): extract the signed-in user from the session token.
//!
//! Put a [`Verifier`] in your state (implementing `FromRef`), then take [`Auth`] in handlers to
//! require a valid token (401 otherwise), or [`OptionalAuth`] to accept anonymous requests.
//!
//! ```no_run
//! use axum::{extract::FromRef, routing::get, Router};
//! use roster_sdk::axum::Auth;
//!
//! #[derive(Clone, FromRef)]
//! struct AppState { verifier: roster_sdk::Verifier }
//!
//! async fn whoami(auth: Auth) -> String { auth.user_id }
//!
//! # fn app(verifier: roster_sdk::Verifier) -> Router {
//! Router::new().route("/whoami", get(whoami)).with_state(AppState { verifier })
//! # }
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

/// The signed-in user of a request, from a verified session token.
#[derive(Debug, Clone)]
pub struct Auth<C = Map<String, Value>> {
    pub user_id: String,
    pub session_id: Option<String>,
    pub claims: SessionClaims<C>,
}

/// A request without a valid session token: 401 in Clerk's error envelope.
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

/// Accepts anonymous requests: `OptionalAuth(None)` without a valid token.
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

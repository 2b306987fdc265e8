//! Route handlers: parse the request, call the domain and the store, render the result.

pub mod sessions;
pub mod users;

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;

use crate::error::ApiError;

/// Unix time in milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A `{user_id}` path segment that has the shape of a user id; anything else is a 404 without
/// touching the store.
pub struct UserId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for UserId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::NotFound("Resource not found".into()))?;
        if roster_domain::ids::has_shape(&id, "user") {
            Ok(UserId(id))
        } else {
            Err(user_not_found(&id))
        }
    }
}

pub fn user_not_found(id: &str) -> ApiError {
    let shown: String = id.chars().take(64).collect();
    ApiError::NotFound(format!("No user was found with id {shown}"))
}

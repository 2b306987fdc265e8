//! Route handlers: parse the request, call the domain and the store, render the result.

pub mod clients;
pub mod sessions;
pub mod users;

use axum::extract::{FromRequestParts, Path};
use axum::http::header::IF_MATCH;
use axum::http::request::Parts;
use roster_domain::revision::EntityTags;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Unix time in milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Path parameters (ids, template names). A segment that is not UTF-8 text or holds a NUL names
/// nothing that can exist, so it is the same 404 envelope as an unknown id (axum's own rejection
/// is a plain-text 400, and PostgreSQL refuses NUL in a text parameter).
pub struct PathIds<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for PathIds<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let not_found = || ApiError::NotFound("Resource not found".into());
        if parts.uri.path().contains("%00") {
            return Err(not_found());
        }
        let Path(ids) = Path::<T>::from_request_parts(parts, state)
            .await
            .map_err(|_| not_found())?;
        Ok(PathIds(ids))
    }
}

/// A `{user_id}` path segment that has the shape of a user id; anything else is a 404 without
/// touching the store.
pub struct UserId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for UserId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let PathIds(id) = PathIds::<String>::from_request_parts(parts, state).await?;
        if roster_domain::ids::has_shape(&id, "user") {
            Ok(UserId(id))
        } else {
            Err(user_not_found(&id))
        }
    }
}

/// The entity tags of a request's `If-Match` or `If-None-Match` header lines, if it has any.
pub fn entity_tags(
    headers: &axum::http::HeaderMap,
    name: axum::http::header::HeaderName,
) -> Option<EntityTags> {
    let mut values = headers.get_all(name).iter().peekable();
    values.peek()?;
    // A line that is not text names no revision of ours, and still makes the header present.
    Some(EntityTags::parse(
        values.map(|v| v.to_str().unwrap_or_default()),
    ))
}

/// A write's `If-Match` precondition: the edit applies only to a user at a revision it names.
pub struct IfMatch(pub Option<EntityTags>);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(IfMatch(entity_tags(&parts.headers, IF_MATCH)))
    }
}

pub fn user_not_found(id: &str) -> ApiError {
    let shown: String = id.chars().take(64).collect();
    ApiError::NotFound(format!("No user was found with id {shown}"))
}

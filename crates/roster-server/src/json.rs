//! JSON responses. [`Json`] is `axum::Json` with one difference: the body is written into a
//! `Vec` sized for a user up front. axum's starts at 128 bytes and writes through `BytesMut`'s
//! `io::Write` adapter, one small write per key, quote and value; for a rendered user that was
//! about a fifth of the work of `GET /v1/users/{id}`.

use axum::http::header::CONTENT_TYPE;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::error::ApiError;

/// Room for one rendered user with a few KB of metadata; lists grow from there.
const INITIAL_CAPACITY: usize = 4096;

/// A JSON response body (`Content-Type: application/json`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        let mut body = Vec::with_capacity(INITIAL_CAPACITY);
        match serde_json::to_writer(&mut body, &self.0) {
            Ok(()) => (
                [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
                body,
            )
                .into_response(),
            Err(e) => ApiError::Internal(format!("rendering the response: {e}")).into_response(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn renders_like_axum_json() {
        let value = serde_json::json!({"a": "x\"\\\u{1}é", "b": [1, 2.5, null], "c": {}});
        let ours = Json(&value).into_response();
        let axums = axum::Json(&value).into_response();
        assert_eq!(ours.status(), axums.status());
        assert_eq!(
            ours.headers().get(CONTENT_TYPE),
            axums.headers().get(CONTENT_TYPE)
        );
        let body = |r: Response| async {
            axum::body::to_bytes(r.into_body(), usize::MAX)
                .await
                .map(|b| b.to_vec())
                .unwrap_or_default()
        };
        assert_eq!(body(ours).await, body(axums).await);
    }
}

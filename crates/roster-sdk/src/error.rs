//! The one error type of the SDK.

use roster_proto::ErrorEnvelope;

/// An error answer from Roster, with everything its envelope and headers said.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiFailure {
    pub status: u16,
    /// The stable Clerk error code, e.g. `form_identifier_exists`.
    pub code: String,
    pub message: String,
    pub long_message: String,
    /// The request parameter the error is about, if any.
    pub param_name: Option<String>,
    pub trace_id: Option<String>,
    /// Seconds to wait, from `Retry-After`.
    pub retry_after: Option<u64>,
}

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Roster answered with an error envelope.
    #[error("{} {}: {}", .0.status, .0.code, .0.long_message)]
    Api(Box<ApiFailure>),
    /// The request did not get an answer (connection, timeout).
    #[error("transport: {0}")]
    Transport(#[source] reqwest::Error),
    /// The answer was not what the API promises.
    #[error("unexpected response: {0}")]
    Decode(String),
    #[error("configuration: {0}")]
    Config(String),
}

impl Error {
    /// The Clerk error code (`resource_not_found`, `form_identifier_exists`, …), for API errors.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Api(f) => Some(&f.code),
            _ => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api(f) => Some(f.status),
            _ => None,
        }
    }

    pub(crate) fn retry_after(&self) -> Option<u64> {
        match self {
            Error::Api(f) => f.retry_after,
            _ => None,
        }
    }

    /// Connection failures, 429 and 503 may succeed if tried again.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Api(f) => matches!(f.status, 429 | 503),
            Error::Transport(e) => e.is_connect() || e.is_timeout(),
            _ => false,
        }
    }
}

/// Decodes a success body, or turns an error envelope into [`Error::Api`].
pub(crate) async fn read<T: serde::de::DeserializeOwned>(
    resp: reqwest::Response,
) -> Result<T, Error> {
    let status = resp.status();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    let bytes = resp.bytes().await.map_err(Error::Transport)?;
    if status.is_success() {
        return serde_json::from_slice(&bytes).map_err(|e| Error::Decode(e.to_string()));
    }
    let envelope: Option<ErrorEnvelope> = serde_json::from_slice(&bytes).ok();
    let first = envelope.as_ref().and_then(|e| e.errors.first());
    Err(Error::Api(Box::new(ApiFailure {
        status: status.as_u16(),
        code: first
            .map(|e| e.code.clone())
            .unwrap_or_else(|| "unknown".into()),
        message: first.map(|e| e.message.clone()).unwrap_or_default(),
        long_message: first
            .map(|e| e.long_message.clone())
            .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned()),
        param_name: first
            .and_then(|e| e.meta.as_ref())
            .and_then(|m| m.param_name.clone()),
        trace_id: envelope.and_then(|e| e.clerk_trace_id),
        retry_after,
    })))
}

//! The one error type of the SDK.

use roster_proto::ErrorEnvelope;

/// An error answer from Roster: the first error of Clerk's envelope
/// (`{"errors":[…],"clerk_trace_id":…}`) plus the status and `Retry-After` header.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), roster_sdk::Error> {
/// # if std::env::var("ROSTER_API_URL").is_err() { return Ok(()) }
/// use roster_sdk::{Client, CreateUser, Error, MetadataUpdate};
///
/// let roster = Client::from_env()?;
/// let user = roster.users().create(&CreateUser::default()).await?;
///
/// // Each metadata tier holds at most 8 KB.
/// let too_big = MetadataUpdate::default().private(serde_json::json!({ "notes": "x".repeat(9000) }))?;
/// match roster.users().update_metadata(&user.id, &too_big).await {
///     Err(Error::Api(failure)) => {
///         assert_eq!(failure.status, 422);
///         assert_eq!(failure.code, "form_param_exceeds_allowed_size");
///         assert_eq!(failure.param_name.as_deref(), Some("private_metadata"));
///         assert!(failure.trace_id.is_some());
///     }
///     other => panic!("expected a 422, got {other:?}"),
/// }
/// // Nothing was stored.
/// assert_eq!(roster.users().get(&user.id).await?.private_metadata, serde_json::json!({}));
/// # roster.users().delete(&user.id).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ApiFailure {
    /// The HTTP status, e.g. 404 or 422.
    pub status: u16,
    /// The stable Clerk error code to match on, e.g. `form_identifier_exists`; `unknown` when
    /// the body was not an error envelope.
    pub code: String,
    /// A short message, safe to show to a user.
    pub message: String,
    /// The full message; the raw body when it was not an error envelope.
    pub long_message: String,
    /// The request parameter the error is about (`meta.param_name`), e.g. `email_address`.
    pub param_name: Option<String>,
    /// The request's trace id (`clerk_trace_id`), also in Roster's logs: quote it in bug reports.
    pub trace_id: Option<String>,
    /// Seconds to wait before trying again, from the `Retry-After` header.
    pub retry_after: Option<u64>,
}

/// Why a call failed.
///
/// Match on [`Error::Api`] and its [`code`](ApiFailure::code) for the answers your code handles;
/// [`Error::code`] and [`Error::status`] are shortcuts for the same.
///
/// ```
/// use roster_sdk::{ApiFailure, Client, Error};
///
/// fn explain(err: &Error) -> String {
///     match err {
///         Error::Api(f) if f.code == "form_identifier_exists" => {
///             format!("{} is taken", f.param_name.as_deref().unwrap_or("identifier"))
///         }
///         Error::Api(f) if f.status == 404 => "no such user".to_owned(),
///         Error::Api(f) => format!("{} {} (trace {:?})", f.status, f.code, f.trace_id),
///         Error::Transport(_) => "Roster is unreachable".to_owned(),
///         Error::Decode(detail) | Error::Config(detail) => detail.clone(),
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Error> {
/// // Nothing listens on port 9: a transport error, reported at once without retries.
/// let roster = Client::new("http://127.0.0.1:9", "sk_test_example")?.with_max_retries(0);
/// let err = roster.users().get("user_123").await.unwrap_err();
/// assert!(err.is_transient());
/// assert_eq!(explain(&err), "Roster is unreachable");
///
/// // What `users().create` returns for an email address that is already used.
/// let taken = Error::Api(Box::new(ApiFailure {
///     status: 422,
///     code: "form_identifier_exists".into(),
///     message: "That email address is taken. Please try another.".into(),
///     long_message: "That email address is taken. Please try another.".into(),
///     param_name: Some("email_address".into()),
///     trace_id: Some("0d35303dd43ee3b9155dae0c5d08ce91".into()),
///     retry_after: None,
/// }));
/// assert_eq!(explain(&taken), "email_address is taken");
/// assert_eq!((taken.status(), taken.code()), (Some(422), Some("form_identifier_exists")));
/// assert!(!taken.is_transient());
/// # Ok(()) }
/// ```
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Roster answered with an error status (boxed to keep `Result`s small).
    #[error("{} {}: {}", .0.status, .0.code, .0.long_message)]
    Api(Box<ApiFailure>),
    /// The request got no answer: connection refused, timeout (30 s), TLS or body read failure.
    #[error("transport: {0}")]
    Transport(#[source] reqwest::Error),
    /// JSON did not fit: an answer not in the API's shape, or metadata your types cannot
    /// serialise or deserialise.
    #[error("unexpected response: {0}")]
    Decode(String),
    /// The client could not be configured, e.g. [`Client::from_env`](crate::Client::from_env)
    /// without `ROSTER_SECRET_KEY`.
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

    /// Whether an `If-Match` write was refused because the user changed since it was read
    /// (412 `precondition_failed`): read again and retry. See [`Users::modify_metadata`](crate::Users::modify_metadata).
    pub fn is_precondition_failed(&self) -> bool {
        self.status() == Some(412)
    }

    /// The HTTP status, for API errors.
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

    /// Whether trying again may succeed: connection failures and timeouts, 429 and 503. These are
    /// the failures the client retries itself (see
    /// [`Client::with_max_retries`](crate::Client::with_max_retries)), so one returned to you has
    /// already exhausted its retries.
    pub fn is_transient(&self) -> bool {
        self.is_unsent() || matches!(self, Error::Transport(e) if e.is_timeout())
    }

    /// Whether the request certainly did not reach a handler, so a conditional write may be
    /// sent again: a timeout may come after the write landed, and the retry's 412 would then
    /// read as somebody else's write.
    pub(crate) fn is_unsent(&self) -> bool {
        match self {
            Error::Api(f) => matches!(f.status, 429 | 503),
            Error::Transport(e) => e.is_connect(),
            _ => false,
        }
    }
}

/// The response's body as `T`, or its error, with its `ETag` (a user's revision) if it has one.
pub(crate) async fn read_tagged<T: serde::de::DeserializeOwned>(
    resp: reqwest::Response,
) -> Result<(T, Option<String>), Error> {
    let etag = resp
        .headers()
        .get(reqwest::header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    read(resp).await.map(|value| (value, etag))
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

//! The one mapping from failures to the wire: HTTP status, Clerk error code and messages, next to
//! each other. Clients see a stable code and a safe message; the cause chain goes to the log only.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use rand::RngCore;

use roster_domain::DomainError;
use roster_proto::{ErrorEnvelope, ErrorJson, ErrorMeta};
use roster_store::StoreError;

/// Every way a request can fail.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error("authorization header missing or malformed")]
    AuthorizationHeaderInvalid,
    #[error("unknown secret key")]
    SecretKeyInvalid,
    #[error("not found: {0}")]
    NotFound(String),
    #[error("request body is not valid JSON")]
    BodyInvalid,
    #[error("request body larger than {0} bytes")]
    BodyTooLarge(usize),
    /// The body did not arrive within this many seconds.
    #[error("request body too slow")]
    BodyTimeout(u64),
    #[error("unsupported content type {0}")]
    UnsupportedContentType(String),
    #[error("malformed query string")]
    QueryMalformed,
    #[error("invalid API version: {0}")]
    ApiVersionInvalid(String),
    #[error("password incorrect")]
    PasswordIncorrect,
    #[error("the user has no password")]
    PasswordNotSet,
    #[error("session {id} is {status}")]
    SessionNotActive { id: String, status: &'static str },
    #[error("the user is {0}")]
    UserCannotSignIn(&'static str),
    #[error(transparent)]
    Claims(#[from] roster_domain::claims::ClaimsError),
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    #[error("origin not allowed")]
    OriginInvalid,
    #[error("already signed in")]
    SessionExists,
    #[error("identifier not found")]
    IdentifierNotFound,
    #[error("no signed-in client or session")]
    FrontendUnauthenticated,
    #[error("method not allowed")]
    MethodNotAllowed,
    /// A deprecated endpoint; `instead` says, in a sentence, what to use.
    #[error("deprecated endpoint")]
    Deprecated { instead: &'static str },
    #[error("signed out")]
    SignedOut,
    #[error("already verified")]
    AlreadyVerified,
    /// An error about a value the request names otherwise: `meta.param_name` says `param`.
    #[error("{inner}")]
    ForParam {
        param: &'static str,
        inner: Box<ApiError>,
    },
    #[error("client token invalid")]
    ClientTokenInvalid,
    #[error("rate limited; retry after {retry_after_s} s")]
    TooManyRequests { retry_after_s: i64 },
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Domain(d) => ApiError::Domain(d),
            StoreError::Unavailable(cause) => ApiError::Unavailable(cause),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

struct WireError {
    status: StatusCode,
    code: &'static str,
    message: String,
    long_message: String,
    param: Option<String>,
}

fn wire(
    status: StatusCode,
    code: &'static str,
    message: impl Into<String>,
    long_message: impl Into<String>,
    param: Option<String>,
) -> WireError {
    WireError {
        status,
        code,
        message: message.into(),
        long_message: long_message.into(),
        param,
    }
}

const UNPROCESSABLE: StatusCode = StatusCode::UNPROCESSABLE_ENTITY;

fn domain_wire(e: &DomainError) -> WireError {
    use DomainError as D;
    match e {
        D::MetadataNotObject { param } => wire(
            UNPROCESSABLE,
            "form_param_value_invalid",
            "is invalid",
            format!("{param} must be a JSON object."),
            Some((*param).into()),
        ),
        D::MetadataTooDeep { param } => wire(
            UNPROCESSABLE,
            "form_param_value_invalid",
            "is invalid",
            format!("{param} nests deeper than {} levels.", roster_domain::metadata::METADATA_MAX_DEPTH),
            Some((*param).into()),
        ),
        D::MetadataTooLarge { param } => {
            let text = format!(
                "The given {param} exceeds the maximum allowed size of {} bytes (8 KB).",
                roster_domain::metadata::METADATA_MAX_BYTES
            );
            wire(UNPROCESSABLE, "form_param_exceeds_allowed_size", text.clone(), text, Some((*param).into()))
        }
        D::UnknownParam { param } => wire(
            UNPROCESSABLE,
            "form_param_unknown",
            "is unknown",
            format!("{param} is not a valid parameter for this request."),
            Some(param.clone()),
        ),
        D::WrongType { param, expected } => wire(
            UNPROCESSABLE,
            "form_param_type_invalid",
            "is invalid",
            format!("`{param}` must be a `{expected}`."),
            Some(param.clone()),
        ),
        D::InvalidValue { param, reason } => {
            wire(UNPROCESSABLE, "form_param_value_invalid", "is invalid", reason.clone(), Some(param.clone()))
        }
        D::InvalidFormat { param, reason } => {
            wire(UNPROCESSABLE, "form_param_format_invalid", "is invalid", reason.clone(), Some(param.clone()))
        }
        D::InvalidTime { param } => wire(
            UNPROCESSABLE,
            "form_param_invalid_time",
            "invalid format",
            format!("{param} must contain a datetime specified in RFC3339 format (e.g. `2022-10-20T10:00:27.645Z`)."),
            Some(param.clone()),
        ),
        D::InvalidDate { param } => wire(
            UNPROCESSABLE,
            "form_param_invalid_date",
            "is invalid",
            "Date values must be given in Unix millisecond timestamp format.",
            Some(param.clone()),
        ),
        D::MissingParam { param } => wire(
            UNPROCESSABLE,
            "form_param_missing",
            "is missing",
            format!("{param} must be included."),
            Some(param.clone()),
        ),
        D::TooManyItems { param, max } => wire(
            UNPROCESSABLE,
            "form_param_array_size_exceeded",
            "exceeds maximum size",
            format!("{param} should not exceed {max} items."),
            Some(param.clone()),
        ),
        D::ArrayLengthMismatch { param, other } => wire(
            UNPROCESSABLE,
            "form_param_array_length_mismatch",
            "length mismatch",
            format!("{param} must contain exactly one item for each item in {other}."),
            Some(param.clone()),
        ),
        D::IdentifierTaken { param } => {
            let what = match *param {
                "email_address" => "That email address is taken. Please try another.",
                "phone_number" => "That phone number is taken. Please try another.",
                "username" => "That username is taken. Please try another.",
                _ => "That external ID is taken. Please try another.",
            };
            wire(UNPROCESSABLE, "form_identifier_exists", what, what, Some((*param).into()))
        }
        D::AlreadyExists { param } => wire(
            UNPROCESSABLE,
            "form_already_exists",
            "already exists",
            format!("A resource with this {param} already exists."),
            Some((*param).into()),
        ),
        D::PasswordTooShort => wire(
            UNPROCESSABLE,
            "form_password_length_too_short",
            "Passwords must be 8 characters or more.",
            format!(
                "Passwords must be {} characters or more.",
                roster_domain::password::MIN_PASSWORD_CHARS
            ),
            Some("password".into()),
        ),
        D::PasswordPwned => wire(
            UNPROCESSABLE,
            "form_password_pwned",
            "Password has been found in an online data breach. For account safety, please use a different password.",
            "Password has been found in an online data breach. For account safety, please use a different password.",
            Some("password".into()),
        ),
        D::PasswordTooLong => wire(
            UNPROCESSABLE,
            "form_password_length_too_long",
            "Password is too long.",
            format!("Passwords must be at most {} bytes.", roster_domain::password::MAX_PASSWORD_BYTES),
            Some("password".into()),
        ),
        D::RejectedForVersion {
            param,
            version,
            instead,
        } => wire(
            UNPROCESSABLE,
            "form_param_unknown",
            "is unknown",
            format!(
                "{param} is not a valid parameter for this request. As of API version {version}, \
                 use {instead} to change metadata."
            ),
            Some(param.clone()),
        ),
        D::RevisionChanged => wire(
            StatusCode::PRECONDITION_FAILED,
            "precondition_failed",
            "The user has changed",
            "The user changed after the revision named in If-Match was read, and nothing was \
             written. Read the user again (its ETag header names the current revision) and retry.",
            None,
        ),
    }
}

impl ApiError {
    /// The same error, naming `param` in `meta.param_name` (when one request field is checked
    /// by rules written for another: a new password by the password policy).
    pub fn for_param(self, param: &'static str) -> ApiError {
        ApiError::ForParam {
            param,
            inner: Box::new(self),
        }
    }

    /// A refusal of the request (4xx), as opposed to a failure of the server (5xx).
    pub fn is_refusal(&self) -> bool {
        self.wire().status.is_client_error()
    }

    fn wire(&self) -> WireError {
        use ApiError as A;
        match self {
            A::Domain(d) => domain_wire(d),
            A::AuthorizationHeaderInvalid => wire(
                StatusCode::UNAUTHORIZED,
                "authorization_header_format_invalid",
                "Invalid Authorization header format",
                "Invalid Authorization header format. Must be 'Bearer <YOUR_API_KEY>'",
                None,
            ),
            A::SecretKeyInvalid => {
                let text = "The provided Clerk Secret Key is invalid. Make sure that your Clerk Secret Key is correct.";
                wire(StatusCode::UNAUTHORIZED, "clerk_key_invalid", text, text, None)
            }
            A::NotFound(long) => {
                wire(StatusCode::NOT_FOUND, "resource_not_found", "not found", long.clone(), None)
            }
            A::BodyInvalid => wire(
                StatusCode::BAD_REQUEST,
                "request_body_invalid",
                "Request body invalid",
                "The request body is invalid. Please consult the API documentation for more information.",
                None,
            ),
            A::BodyTooLarge(limit) => wire(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request_body_too_large",
                "Request body too large",
                format!("The request body exceeds the maximum allowed size of {limit} bytes."),
                None,
            ),
            A::BodyTimeout(seconds) => wire(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                "Request timed out",
                format!("The request body did not arrive within {seconds} seconds."),
                None,
            ),
            A::UnsupportedContentType(actual) => wire(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_content_type",
                "Content-Type is unsupported",
                format!("Content-Type {actual} is unsupported. You should use application/json instead."),
                None,
            ),
            A::QueryMalformed => wire(
                StatusCode::BAD_REQUEST,
                "malformed_request_parameters",
                "Malformed request parameters",
                "The request parameters are malformed and could not be parsed",
                None,
            ),
            A::ApiVersionInvalid(reason) => wire(
                StatusCode::BAD_REQUEST,
                "api_version_invalid",
                "invalid API version",
                format!("Invalid Clerk API version: {reason}"),
                None,
            ),
            A::PasswordIncorrect => wire(
                UNPROCESSABLE,
                "form_password_incorrect",
                "Password is incorrect. Try again, or use another method.",
                "Password is incorrect. Try again, or use another method.",
                Some("password".into()),
            ),
            A::PasswordNotSet => wire(
                StatusCode::BAD_REQUEST,
                "password_not_set",
                "The user does not have a password set.",
                "The user does not have a password set.",
                None,
            ),
            // 404, one of the two statuses Clerk documents for minting (401, 404).
            A::SessionNotActive { id, status } => wire(
                StatusCode::NOT_FOUND,
                "session_not_active",
                "Session is not active",
                format!("Session {id} is {status} and cannot mint tokens."),
                None,
            ),
            A::UserCannotSignIn(why) => wire(
                StatusCode::FORBIDDEN,
                if *why == "banned" { "user_banned" } else { "user_locked" },
                format!("The user is {why}"),
                format!("The user is {why} and cannot sign in or get tokens."),
                None,
            ),
            A::Claims(e) => {
                let message = match e {
                    roster_domain::claims::ClaimsError::Reserved(claim) => format!("You can't use the reserved claim: {claim}"),
                    other => other.to_string(),
                };
                wire(UNPROCESSABLE, "form_param_value_invalid", "is invalid", message, Some("claims".into()))
            }
            A::Forbidden(why) => wire(
                StatusCode::FORBIDDEN,
                "authorization_invalid",
                "Unauthorized request",
                *why,
                None,
            ),
            A::OriginInvalid => wire(
                StatusCode::FORBIDDEN,
                "origin_invalid",
                "Invalid origin",
                "This request's Origin is not one of the instance's allowed origins.",
                None,
            ),
            A::SessionExists => wire(
                StatusCode::BAD_REQUEST,
                "session_exists",
                "You're already signed in.",
                "You're currently in single session mode. You can only be signed into one account \
                 at a time.",
                None,
            ),
            A::IdentifierNotFound => wire(
                UNPROCESSABLE,
                "form_identifier_not_found",
                "Couldn't find your account.",
                "Couldn't find your account.",
                Some("identifier".into()),
            ),
            A::FrontendUnauthenticated => wire(
                StatusCode::UNAUTHORIZED,
                "authentication_invalid",
                "Invalid authentication",
                "Unable to authenticate the request, you need to supply an active session",
                None,
            ),
            A::MethodNotAllowed => wire(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "Method not allowed",
                "This endpoint does not support this HTTP method.",
                None,
            ),
            A::ForParam { param, inner } => WireError {
                param: Some((*param).into()),
                ..inner.wire()
            },
            A::AlreadyVerified => wire(
                StatusCode::BAD_REQUEST,
                "verification_already_verified",
                "This verification has already been verified.",
                "This verification has already been verified. Roster sends no email: it takes the \
                 address given at sign-up as verified.",
                None,
            ),
            A::SignedOut => wire(
                StatusCode::UNAUTHORIZED,
                "signed_out",
                "Signed out",
                "You are signed out",
                None,
            ),
            A::Deprecated { instead } => wire(
                StatusCode::GONE,
                "operation_deprecated",
                "This endpoint is deprecated",
                format!("This endpoint is deprecated and no longer served. {instead}"),
                None,
            ),
            A::ClientTokenInvalid => wire(
                StatusCode::BAD_REQUEST,
                "token_invalid",
                "Invalid token",
                "The token names no client, or its secret does not match.",
                None,
            ),
            A::TooManyRequests { .. } => wire(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                "Too many requests",
                "Too many requests, retry later",
                None,
            ),
            A::Unavailable(_) => wire(
                StatusCode::SERVICE_UNAVAILABLE,
                "service_unavailable",
                "Service unavailable",
                "The database is unavailable right now. Please try again shortly.",
                None,
            ),
            A::Internal(_) => wire(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_clerk_error",
                "Oops, an unexpected error occurred",
                "There was an internal error on our servers. We've been notified and are working on fixing it.",
                None,
            ),
        }
    }
}

/// A fresh trace id: 32 lowercase hex characters.
pub fn trace_id() -> String {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let w = self.wire();
        let trace = trace_id();
        match &self {
            ApiError::Internal(cause) | ApiError::Unavailable(cause) => {
                tracing::error!(trace_id = %trace, cause = %cause, code = w.code, "request failed");
            }
            other => {
                tracing::debug!(trace_id = %trace, error = %other, code = w.code, "request rejected")
            }
        }
        let body = ErrorEnvelope {
            errors: vec![ErrorJson {
                message: w.message,
                long_message: w.long_message,
                code: w.code.to_owned(),
                meta: w.param.map(|p| ErrorMeta {
                    param_name: Some(p),
                }),
            }],
            clerk_trace_id: Some(trace.clone()),
        };
        let mut response = (w.status, Json(body)).into_response();
        if let Ok(value) = HeaderValue::from_str(&trace) {
            response.headers_mut().insert("x-clerk-trace-id", value);
        }
        if matches!(self, ApiError::Unavailable(_)) {
            response
                .headers_mut()
                .insert("retry-after", HeaderValue::from_static("1"));
        }
        if let ApiError::TooManyRequests { retry_after_s } = self {
            response
                .headers_mut()
                .insert("retry-after", HeaderValue::from(retry_after_s.max(1)));
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

//! The one error type of the domain. `roster-server` maps each variant to an HTTP status and a
//! Clerk error code in one place (`roster_server::error`).

use thiserror::Error;

/// Why a domain operation refused its input. Every variant that concerns a request parameter
/// carries that parameter's name, so the client gets `meta.param_name`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DomainError {
    #[error("{param} must be a JSON object")]
    MetadataNotObject { param: &'static str },
    #[error("{param} nests too deeply")]
    MetadataTooDeep { param: &'static str },
    #[error("{param} exceeds the maximum allowed size")]
    MetadataTooLarge { param: &'static str },
    #[error("{param} is not a valid parameter for this request")]
    UnknownParam { param: String },
    #[error("{param} has the wrong type, must be {expected}")]
    WrongType {
        param: String,
        expected: &'static str,
    },
    #[error("{param} has an invalid value")]
    InvalidValue { param: String, reason: String },
    #[error("{param} has an invalid format")]
    InvalidFormat { param: String, reason: String },
    #[error("{param} must contain an RFC3339 datetime")]
    InvalidTime { param: String },
    #[error("{param} must be a unix millisecond timestamp")]
    InvalidDate { param: String },
    #[error("{param} is missing")]
    MissingParam { param: String },
    #[error("{param} has too many items (at most {max})")]
    TooManyItems { param: String, max: usize },
    #[error("{param} must have one item for each item in {other}")]
    ArrayLengthMismatch { param: String, other: String },
    #[error("{param} is already taken")]
    IdentifierTaken { param: &'static str },
    #[error("{param} already exists")]
    AlreadyExists { param: &'static str },
    #[error("password is too short")]
    PasswordTooShort,
    #[error("password is too long")]
    PasswordTooLong,
    #[error("password found in a data breach")]
    PasswordPwned,
    /// Metadata on an update from an API version that moved it to its own endpoint, which
    /// `instead` names.
    #[error("{param} is not allowed with API version {version}")]
    RejectedForVersion {
        param: String,
        version: String,
        instead: &'static str,
    },
    /// An `If-Match` precondition named a revision the user is no longer at.
    #[error("the user changed since the revision given")]
    RevisionChanged,
}

//! Roster's domain: users, the three metadata tiers and the rules for changing them.
//!
//! Everything here is a plain function or type with no knowledge of HTTP or SQL: handlers in
//! `roster-server` parse requests into these types and render the results; stores in
//! `roster-store` load and save them.

pub mod claims;
pub mod client;
pub mod error;
pub mod ids;
pub mod metadata;
pub mod password;
pub mod query;
pub mod rate_limit;
pub mod revision;
pub mod session;
pub mod user;
pub mod validate;

pub use error::DomainError;
pub use metadata::{MetadataTier, MetadataWrite};
pub use user::User;

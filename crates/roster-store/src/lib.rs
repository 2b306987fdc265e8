//! Roster's storage port ([`Store`]) and its implementations.
//!
//! The port speaks domain types only. A store loads, saves and finds; it never decides what a
//! change means: edits arrive as closures over [`roster_domain::User`] and run inside the store's
//! transaction, so a read-modify-write (a metadata merge) is atomic whatever the backend.
//! SQL lives here and nowhere else.

mod filter_sql;
pub mod postgres;
pub mod sqlite;

use async_trait::async_trait;
use roster_domain::query::{UserFilter, UserQuery};
use roster_domain::{DomainError, User};

/// A change to one user, run inside the store's transaction with the row locked.
pub type UserEdit = Box<dyn FnOnce(&mut User) -> Result<(), DomainError> + Send + 'static>;

/// The instance a database belongs to: one per database, shared by every Roster process on it.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    pub id: String,
    pub publishable_key: String,
    pub created_at: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error("the database schema is version {found}, newer than this binary's {supported}")]
    SchemaTooNew { found: i64, supported: i64 },
    #[error("storage failure: {0}")]
    Internal(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Everything Roster keeps. Implemented by [`sqlite::SqliteStore`] and
/// [`postgres::PostgresStore`]; one conformance suite checks both.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// The instance of this database, created from `candidate` if there is none yet. When several
    /// processes race, all of them get the one that was stored first.
    async fn instance_or_create(&self, candidate: Instance) -> StoreResult<Instance>;

    /// Records the hash of a secret key (idempotent).
    async fn add_secret_key_hash(&self, hash: &str, now: i64) -> StoreResult<()>;
    /// True when a secret key with this hash exists.
    async fn secret_key_hash_exists(&self, hash: &str) -> StoreResult<bool>;
    async fn secret_key_hashes(&self) -> StoreResult<Vec<String>>;

    /// Stores a new user. Fails with [`DomainError::IdentifierTaken`] when an email address,
    /// phone number, username or external id belongs to another user.
    async fn insert_user(&self, user: User) -> StoreResult<User>;
    /// Stores many new users in one transaction, for bulk loads. Identifier clashes fail the
    /// whole batch (through the unique indexes) instead of being checked one by one.
    async fn insert_users(&self, users: Vec<User>) -> StoreResult<()>;
    async fn get_user(&self, id: &str) -> StoreResult<Option<User>>;
    /// Loads the user with its row locked, applies `edit`, checks identifiers and saves, all in
    /// one transaction. `Ok(None)` when there is no such user; an `edit` error changes nothing.
    async fn update_user(&self, id: &str, edit: UserEdit) -> StoreResult<Option<User>>;
    async fn delete_user(&self, id: &str) -> StoreResult<bool>;
    async fn list_users(&self, query: &UserQuery) -> StoreResult<Vec<User>>;
    async fn count_users(&self, filter: &UserFilter) -> StoreResult<u64>;
    /// Cheap round trip for health checks.
    async fn ping(&self) -> StoreResult<()>;
}

/// Lower-cased text the substring filter `query` searches: ids, identifiers and names.
pub(crate) fn search_text(user: &User) -> String {
    let mut parts: Vec<&str> = vec![&user.id];
    parts.extend(user.email_addresses.iter().map(|e| e.value.as_str()));
    parts.extend(user.phone_numbers.iter().map(|p| p.value.as_str()));
    parts.extend(user.username.as_deref());
    parts.extend(user.first_name.as_deref());
    parts.extend(user.last_name.as_deref());
    parts.join("\n").to_lowercase()
}

/// Lower-cased `first last`, searched by `name_query`.
pub(crate) fn name_text(user: &User) -> String {
    let first = user.first_name.as_deref().unwrap_or("");
    let last = user.last_name.as_deref().unwrap_or("");
    format!("{first} {last}").to_lowercase()
}

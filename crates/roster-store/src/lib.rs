//! Roster's storage port ([`Store`]) and its implementations.
//!
//! The port speaks domain types only. A store loads, saves and finds; it never decides what a
//! change means: edits arrive as closures over [`roster_domain::User`] and run inside the store's
//! transaction, so a read-modify-write (a metadata merge) is atomic whatever the backend.
//! SQL lives here and nowhere else.

mod filter_sql;
mod group_commit;
pub mod postgres;
pub mod sqlite;

use async_trait::async_trait;
use roster_domain::client::Client;
use roster_domain::query::{UserFilter, UserQuery};
use roster_domain::rate_limit::{RateLimitHit, WindowCounts};
use roster_domain::session::{JwtTemplate, Session, SessionStatus};
use roster_domain::{DomainError, User};
use std::sync::Arc;

/// A change to one user. The store applies its result atomically: either to the very user it was
/// computed from, or (with the row locked) to the stored user.
pub type UserEdit = Arc<dyn Fn(&mut User) -> Result<(), DomainError> + Send + Sync + 'static>;

/// An edit for [`Store::update_user`]. It may run more than once (a store may compute it
/// optimistically and run it again on a user changed in between), so it must depend only on the
/// user it is given.
pub fn user_edit(
    edit: impl Fn(&mut User) -> Result<(), DomainError> + Send + Sync + 'static,
) -> UserEdit {
    Arc::new(edit)
}

/// How many expired rate-limit rows one new window sweeps: bounded, so a sweep never holds up
/// the attempt that triggered it, and enough to keep up, since each new window adds one row.
pub const RATE_LIMIT_SWEEP_BATCH: i64 = 100;

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

/// An RSA signing key as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct SigningKeyRecord {
    pub kid: String,
    /// PKCS#1 DER of the private key.
    pub private_key: Vec<u8>,
    pub created_at: i64,
    pub retired_at: Option<i64>,
    /// The latest `exp` of a token it signed (seconds), kept so a retired key stays published
    /// while its tokens are valid.
    pub max_exp: i64,
}

/// Where a token's custom claims come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimsSource<'a> {
    /// A JWT template, by name.
    Template(&'a str),
    /// A setting, by key (the instance's session-token claims).
    Setting(&'a str),
}

/// What minting a token reads: the session, its user and the claims, read together.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MintingRead {
    pub session: Option<Session>,
    /// The session's user; `None` without a session or when the user is gone.
    pub user: Option<User>,
    /// The named template, for [`ClaimsSource::Template`].
    pub template: Option<JwtTemplate>,
    /// The setting's value, for [`ClaimsSource::Setting`].
    pub setting: Option<String>,
}

/// Which sessions a list asks for; newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionFilter {
    pub user_id: Option<String>,
    pub client_id: Option<String>,
    pub status: Option<SessionStatus>,
    /// The time `active` and `expired` are judged at (unix ms).
    pub now: i64,
    pub limit: u32,
    pub offset: u64,
}

impl SessionFilter {
    /// Whether an id filter holds a NUL: it matches nothing (see `UserFilter::holds_nul`).
    pub fn holds_nul(&self) -> bool {
        [&self.user_id, &self.client_id]
            .into_iter()
            .flatten()
            .any(|s| s.contains('\0'))
    }
}

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
    async fn signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>>;
    /// Adds a key unless one with its kid exists (so racing first starts agree on one key).
    async fn add_signing_key(&self, key: SigningKeyRecord) -> StoreResult<()>;
    /// Marks every key but `kid` retired (if not already).
    async fn retire_signing_keys_except(&self, kid: &str, now: i64) -> StoreResult<()>;
    /// Raises a key's `max_exp` to `exp` if lower.
    async fn note_signing_exp(&self, kid: &str, exp: i64) -> StoreResult<()>;

    async fn setting(&self, key: &str) -> StoreResult<Option<String>>;
    async fn set_setting(&self, key: &str, value: &str) -> StoreResult<()>;

    async fn insert_session(&self, session: Session) -> StoreResult<Session>;
    async fn get_session(&self, id: &str) -> StoreResult<Option<Session>>;
    /// A page of sessions and the total matching.
    async fn list_sessions(&self, filter: &SessionFilter) -> StoreResult<(Vec<Session>, u64)>;
    async fn set_session_status(
        &self,
        id: &str,
        status: SessionStatus,
        now: i64,
    ) -> StoreResult<Option<Session>>;
    /// The session, its user and the claims a token needs. PostgreSQL reads them in one round
    /// trip; minting is hot, and each round trip costs the server as much CPU as a small page.
    async fn minting_read(
        &self,
        session_id: &str,
        claims: ClaimsSource<'_>,
    ) -> StoreResult<MintingRead> {
        let mut read = MintingRead::default();
        match claims {
            ClaimsSource::Template(name) => read.template = self.jwt_template_by_name(name).await?,
            ClaimsSource::Setting(key) => read.setting = self.setting(key).await?,
        }
        read.session = self.get_session(session_id).await?;
        if let Some(session) = &read.session {
            read.user = self.get_user(&session.user_id).await?;
        }
        Ok(read)
    }
    /// Revokes every active session of a user but `except` (the caller's own, when it signs out
    /// its other sessions); returns how many.
    async fn revoke_user_sessions(
        &self,
        user_id: &str,
        except: Option<&str>,
        now: i64,
    ) -> StoreResult<u64>;

    /// Fails with `DomainError::AlreadyExists` when the name is taken.
    async fn insert_jwt_template(&self, template: JwtTemplate) -> StoreResult<JwtTemplate>;
    async fn jwt_template(&self, id: &str) -> StoreResult<Option<JwtTemplate>>;
    async fn jwt_template_by_name(&self, name: &str) -> StoreResult<Option<JwtTemplate>>;
    async fn list_jwt_templates(
        &self,
        limit: u32,
        offset: u64,
    ) -> StoreResult<(Vec<JwtTemplate>, u64)>;
    /// Replaces the stored template with this id; `Ok(None)` when there is none.
    async fn update_jwt_template(&self, template: JwtTemplate) -> StoreResult<Option<JwtTemplate>>;
    async fn delete_jwt_template(&self, id: &str) -> StoreResult<bool>;

    async fn get_client(&self, id: &str) -> StoreResult<Option<Client>>;
    /// Inserts or replaces a client.
    async fn put_client(&self, client: &Client) -> StoreResult<()>;

    /// Cheap round trip for health checks.
    async fn ping(&self) -> StoreResult<()>;

    /// Counts one attempt against a rate-limit key in its window and returns the window's count
    /// (this attempt included) with the previous window's. Atomic across every process on the
    /// database, so concurrent attempts each see a distinct count. A hit that opens a new window
    /// also sweeps a bounded batch of rows that expired before `hit.now`. Whether the attempt may
    /// proceed is for [`roster_domain::rate_limit::Limit::judge`] to say.
    async fn hit_rate_limit(&self, hit: &RateLimitHit) -> StoreResult<WindowCounts>;
}

/// What an edit changed beyond the user's row, which both stores act on the same way.
pub(crate) struct IdentityChange {
    /// Email addresses or phone numbers: the identifier rows must be rewritten.
    pub identifiers: bool,
    /// Username or external id.
    pub unique_columns: bool,
}

impl IdentityChange {
    pub(crate) fn between(before: &User, after: &User) -> IdentityChange {
        IdentityChange {
            identifiers: before.email_addresses != after.email_addresses
                || before.phone_numbers != after.phone_numbers,
            unique_columns: before.username != after.username
                || before.external_id != after.external_id,
        }
    }

    /// Uniqueness is checked only when a unique identifier changed.
    pub(crate) fn needs_uniqueness_check(&self) -> bool {
        self.identifiers || self.unique_columns
    }
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

/// The SQL condition and parameters for a session list (shared by the backends).
pub(crate) fn session_where(
    f: &SessionFilter,
    placeholder: fn(usize) -> String,
) -> (String, Vec<filter_sql::SqlParam>) {
    use filter_sql::SqlParam;
    let mut clauses = Vec::new();
    let mut params = Vec::new();
    let bind = |p: SqlParam, params: &mut Vec<SqlParam>| {
        params.push(p);
        placeholder(params.len())
    };
    if let Some(user_id) = &f.user_id {
        let m = bind(SqlParam::Text(user_id.clone()), &mut params);
        clauses.push(format!("user_id = {m}"));
    }
    if let Some(client_id) = &f.client_id {
        let m = bind(SqlParam::Text(client_id.clone()), &mut params);
        clauses.push(format!("client_id = {m}"));
    }
    match f.status {
        Some(SessionStatus::Active) => {
            let m = bind(SqlParam::Int(f.now), &mut params);
            clauses.push(format!("status = 'active' AND expire_at > {m}"));
        }
        Some(SessionStatus::Expired) => {
            let m = bind(SqlParam::Int(f.now), &mut params);
            clauses.push(format!(
                "(status = 'expired' OR (status = 'active' AND expire_at <= {m}))"
            ));
        }
        Some(other) => {
            let m = bind(SqlParam::Text(other.as_str().to_owned()), &mut params);
            clauses.push(format!("status = {m}"));
        }
        None => {}
    }
    let sql = if clauses.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", clauses.join(" AND "))
    };
    (sql, params)
}

fn status_of(text: &str) -> StoreResult<SessionStatus> {
    SessionStatus::parse(text)
        .ok_or_else(|| StoreError::Internal(format!("unknown session status {text}")))
}

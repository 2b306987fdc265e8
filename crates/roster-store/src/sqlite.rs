//! The embedded default: SQLite in WAL mode with `synchronous=FULL`, so every acknowledged write
//! is on disk. One writer thread serialises writes (SQLite allows one writer anyway) and commits
//! the writes that queue up together (see [`crate::group_commit`]); a few reader connections serve
//! reads concurrently.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use rusqlite::types::Value as SqlValue;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use roster_domain::query::{UserFilter, UserQuery};
use roster_domain::rate_limit::{RateLimitHit, WindowCounts};
use roster_domain::{DomainError, User};

use crate::filter_sql::{contains_pattern, Dialect, SqlFilter, SqlParam, TextField};
use crate::group_commit::Writer;
use crate::{
    name_text, search_text, session_where, status_of, IdentityChange, Instance, SessionFilter,
    SigningKeyRecord, Store, StoreError, StoreResult, UserEdit,
};
use roster_domain::client::Client;
use roster_domain::session::{JwtTemplate, Session, SessionStatus};

/// Migrations in order; the schema version is the number applied.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/sqlite/0001_init.sql"),
    include_str!("../migrations/sqlite/0002_sessions_tokens.sql"),
    include_str!("../migrations/sqlite/0003_clients.sql"),
    include_str!("../migrations/sqlite/0004_rate_limits.sql"),
];
const READERS: usize = 4;
/// Optimistic attempts of an edit before it runs wholly on the writer (see `update_user`).
const OPTIMISTIC_EDITS: usize = 3;

/// Placeholders are `?N`; substring filters go through the FTS5 trigram table.
static DIALECT: Dialect = Dialect {
    placeholder: |n| format!("?{n}"),
    contains: fts_contains,
};

/// A needle matching at least this many users is "dense": walking users in list order and
/// testing each finds a page sooner than fetching and sorting every match from the index.
const DENSE_MATCHES: i64 = 2000;

fn fts_column(field: TextField) -> &'static str {
    match field {
        TextField::Any => "search",
        TextField::Name => "name_search",
        TextField::Username => "username",
        TextField::EmailAddress => "emails",
        TextField::PhoneNumber => "phones",
    }
}

fn fts_phrase(column: &str, needle: &str) -> String {
    format!("{column} : \"{}\"", needle.replace('"', "\"\""))
}

/// Trigram phrase queries match substrings of 3+ characters from the index; shorter needles
/// fall back to `LIKE` over the (small) indexed text. Dense needles test the users' own columns
/// (which have the same names) while walking them in list order.
fn fts_contains(f: &mut SqlFilter, field: TextField, needle: &str) -> String {
    let column = fts_column(field);
    if f.dense.contains(&field) {
        f.like(
            if field == TextField::Username {
                "COALESCE(username, '')"
            } else {
                column
            },
            needle,
        )
    } else if needle.chars().count() >= 3 {
        let mark = f.bind(SqlParam::Text(fts_phrase(column, needle)));
        format!("pk IN (SELECT rowid FROM users_fts WHERE users_fts MATCH {mark})")
    } else {
        let mark = f.bind(SqlParam::Text(contains_pattern(needle)));
        format!("pk IN (SELECT rowid FROM users_fts WHERE {column} LIKE {mark} ESCAPE '\\')")
    }
}

pub struct SqliteStore {
    writer: Writer,
    readers: Arc<Vec<Mutex<Connection>>>,
    next_reader: AtomicUsize,
}

fn internal(e: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(e.to_string())
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match e {
            rusqlite::Error::SqliteFailure(code, _)
                if matches!(
                    code.code,
                    rusqlite::ErrorCode::CannotOpen
                        | rusqlite::ErrorCode::DatabaseBusy
                        | rusqlite::ErrorCode::DatabaseLocked
                        | rusqlite::ErrorCode::DiskFull
                ) =>
            {
                StoreError::Unavailable(e.to_string())
            }
            other => internal(other),
        }
    }
}

fn open(path: &Path) -> StoreResult<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    // Room for every list query shape and every partial-update shape.
    conn.set_prepared_statement_cache_capacity(128);
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;",
    )?;
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> StoreResult<()> {
    conn.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let current: i64 = tx.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_version",
        [],
        |r| r.get(0),
    )?;
    let supported = MIGRATIONS.len() as i64;
    if current > supported {
        return Err(StoreError::SchemaTooNew {
            found: current,
            supported,
        });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES (?1)",
            [index as i64 + 1],
        )?;
    }
    tx.commit()?;
    Ok(())
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and applies pending migrations.
    pub fn open(path: &Path) -> StoreResult<SqliteStore> {
        let mut writer = open(path)?;
        migrate(&mut writer)?;
        let readers = (0..READERS)
            .map(|_| open(path).map(Mutex::new))
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(SqliteStore {
            writer: Writer::start(writer)?,
            readers: Arc::new(readers),
            next_reader: AtomicUsize::new(0),
        })
    }

    async fn write<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        self.writer.write(work).await
    }

    /// A read of a row or two by key, which takes microseconds once the pages are cached: it runs
    /// on the calling task when a reader is idle, saving the two thread hand-offs of the blocking
    /// pool (more than the read itself costs, and under load a source of tail latency). Readers
    /// never wait for the writer in WAL mode. Reads that may scan go through [`Self::read`].
    async fn point_read<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed);
        if let Some(conn) = idle_reader(&self.readers, start) {
            return work(&conn);
        }
        self.read(work).await
    }

    async fn read<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let readers = Arc::clone(&self.readers);
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed);
        tokio::task::spawn_blocking(move || {
            let conn = match idle_reader(&readers, start) {
                Some(conn) => conn,
                None => readers[start % readers.len()].lock().map_err(internal)?,
            };
            work(&conn)
        })
        .await
        .map_err(internal)?
    }
}

/// The first idle reader, starting from a rotating position.
fn idle_reader(readers: &[Mutex<Connection>], start: usize) -> Option<MutexGuard<'_, Connection>> {
    (0..readers.len()).find_map(|i| readers[(start + i) % readers.len()].try_lock().ok())
}

fn to_sql(params: Vec<SqlParam>) -> Vec<SqlValue> {
    params
        .into_iter()
        .map(|p| match p {
            SqlParam::Text(s) => SqlValue::Text(s),
            SqlParam::Int(n) => SqlValue::Integer(n),
            SqlParam::Bool(b) => SqlValue::Integer(i64::from(b)),
        })
        .collect()
}

/// The substring filters whose needles match many users (probed on the index, bounded).
fn dense_fields(conn: &Connection, filter: &UserFilter) -> StoreResult<Vec<TextField>> {
    let mut dense = Vec::new();
    for (field, needle) in SqlFilter::substrings(filter) {
        let Some(needle) = needle.as_deref().map(str::to_lowercase) else {
            continue;
        };
        if needle.chars().count() < 3 {
            continue;
        }
        let matches: i64 = conn
            .prepare_cached(
                "SELECT COUNT(*) FROM (SELECT 1 FROM users_fts WHERE users_fts MATCH ?1 LIMIT ?2)",
            )?
            .query_row(
                params![fts_phrase(fts_column(field), &needle), DENSE_MATCHES],
                |r| r.get(0),
            )?;
        if matches >= DENSE_MATCHES {
            dense.push(field);
        }
    }
    Ok(dense)
}

const SESSION_COLUMNS: &str =
    "id, user_id, client_id, status, last_active_at, expire_at, abandon_at, created_at, updated_at";
const TEMPLATE_COLUMNS: &str =
    "id, name, claims, lifetime, allowed_clock_skew, created_at, updated_at";

fn session_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(Session, String)> {
    let status: String = r.get(3)?;
    Ok((
        Session {
            id: r.get(0)?,
            user_id: r.get(1)?,
            client_id: r.get(2)?,
            status: SessionStatus::Active,
            last_active_at: r.get(4)?,
            expire_at: r.get(5)?,
            abandon_at: r.get(6)?,
            created_at: r.get(7)?,
            updated_at: r.get(8)?,
        },
        status,
    ))
}

fn finish_session((mut session, status): (Session, String)) -> StoreResult<Session> {
    session.status = status_of(&status)?;
    Ok(session)
}

fn template_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(JwtTemplate, String)> {
    let claims: String = r.get(2)?;
    Ok((
        JwtTemplate {
            id: r.get(0)?,
            name: r.get(1)?,
            claims: serde_json::Value::Null,
            lifetime: r.get(3)?,
            allowed_clock_skew: r.get(4)?,
            created_at: r.get(5)?,
            updated_at: r.get(6)?,
        },
        claims,
    ))
}

fn finish_template((mut template, claims): (JwtTemplate, String)) -> StoreResult<JwtTemplate> {
    template.claims = serde_json::from_str(&claims).map_err(internal)?;
    Ok(template)
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
}

fn decode_user(doc: &str) -> StoreResult<User> {
    serde_json::from_str(doc).map_err(internal)
}

/// Fails with `IdentifierTaken` when another user holds one of this user's unique identifiers.
fn check_identifiers(tx: &Connection, user: &User) -> StoreResult<()> {
    let taken = |kind: &str, value: &str| -> StoreResult<bool> {
        Ok(tx
            .prepare_cached(
                "SELECT 1 FROM identifiers WHERE kind = ?1 AND value = ?2 AND user_id <> ?3",
            )?
            .query_row(params![kind, value, user.id], |_| Ok(()))
            .optional()?
            .is_some())
    };
    for e in &user.email_addresses {
        if taken("email_address", &e.value)? {
            return Err(DomainError::IdentifierTaken {
                param: "email_address",
            }
            .into());
        }
    }
    for p in &user.phone_numbers {
        if taken("phone_number", &p.value)? {
            return Err(DomainError::IdentifierTaken {
                param: "phone_number",
            }
            .into());
        }
    }
    let column_taken = |sql: &str, value: &Option<String>| -> StoreResult<bool> {
        match value {
            None => Ok(false),
            Some(v) => Ok(tx
                .prepare_cached(sql)?
                .query_row(params![v, user.id], |_| Ok(()))
                .optional()?
                .is_some()),
        }
    };
    if column_taken(
        "SELECT 1 FROM users WHERE username = ?1 AND id <> ?2",
        &user.username,
    )? {
        return Err(DomainError::IdentifierTaken { param: "username" }.into());
    }
    if column_taken(
        "SELECT 1 FROM users WHERE external_id = ?1 AND id <> ?2",
        &user.external_id,
    )? {
        return Err(DomainError::IdentifierTaken {
            param: "external_id",
        }
        .into());
    }
    Ok(())
}

fn joined<'a>(values: impl Iterator<Item = &'a str>) -> String {
    values.collect::<Vec<_>>().join("\n").to_lowercase()
}

/// Writes the user's row and identifiers (insert or replace).
/// The `users` columns copied out of the document, by name, in the order of `save_user`'s
/// insert (between `id` and `doc`).
fn user_columns(user: &User) -> [(&'static str, SqlValue); 15] {
    let text = |v: Option<&str>| v.map_or(SqlValue::Null, |s| SqlValue::Text(s.to_owned()));
    let int = |v: Option<i64>| v.map_or(SqlValue::Null, SqlValue::Integer);
    [
        ("created_at", SqlValue::Integer(user.created_at)),
        ("updated_at", SqlValue::Integer(user.updated_at)),
        ("external_id", text(user.external_id.as_deref())),
        ("username", text(user.username.as_deref())),
        ("first_name", text(user.first_name.as_deref())),
        ("last_name", text(user.last_name.as_deref())),
        ("primary_email", text(user.primary_email())),
        ("primary_phone", text(user.primary_phone())),
        ("banned", SqlValue::Integer(i64::from(user.banned))),
        ("last_sign_in_at", int(user.last_sign_in_at)),
        ("last_active_at", int(user.last_active_at)),
        ("search", SqlValue::Text(search_text(user))),
        ("name_search", SqlValue::Text(name_text(user))),
        (
            "emails",
            SqlValue::Text(joined(
                user.email_addresses.iter().map(|e| e.value.as_str()),
            )),
        ),
        (
            "phones",
            SqlValue::Text(joined(user.phone_numbers.iter().map(|p| p.value.as_str()))),
        ),
    ]
}

fn doc_of(user: &User) -> StoreResult<SqlValue> {
    Ok(SqlValue::Text(
        serde_json::to_string(user).map_err(internal)?,
    ))
}

/// The row write for an edited user, computed away from the writer: only the columns that changed
/// (a metadata merge rewrites `doc` and `updated_at`, not every indexed column, the identifier
/// rows and the search index), and whether identifiers must be checked and rewritten.
struct RowUpdate {
    sql: String,
    values: Vec<SqlValue>,
    change: IdentityChange,
    user: User,
}

impl RowUpdate {
    /// `expected`: the document the edit was computed from; the write then applies only if the
    /// row still holds exactly that document.
    fn new(before: &User, after: User, expected: Option<String>) -> StoreResult<RowUpdate> {
        let mut sets = Vec::new();
        let mut values = Vec::new();
        for ((name, was), (_, now)) in user_columns(before).into_iter().zip(user_columns(&after)) {
            if was != now {
                values.push(now);
                sets.push(format!("{name} = ?{}", values.len()));
            }
        }
        values.push(doc_of(&after)?);
        sets.push(format!("doc = ?{}", values.len()));
        values.push(SqlValue::Text(after.id.clone()));
        let mut sql = format!(
            "UPDATE users SET {} WHERE id = ?{}",
            sets.join(", "),
            values.len()
        );
        if let Some(doc) = expected {
            values.push(SqlValue::Text(doc));
            sql.push_str(&format!(" AND doc = ?{}", values.len()));
        }
        Ok(RowUpdate {
            sql,
            values,
            change: IdentityChange::between(before, &after),
            user: after,
        })
    }

    /// Writes it, checking uniqueness only when an identifier changed; `None` when the row no
    /// longer holds the expected document (or is gone).
    fn apply(self, conn: &Connection) -> StoreResult<Option<User>> {
        if self.change.needs_uniqueness_check() {
            check_identifiers(conn, &self.user)?;
        }
        let written = conn
            .prepare_cached(&self.sql)?
            .execute(rusqlite::params_from_iter(self.values))?;
        if written == 0 {
            return Ok(None);
        }
        if self.change.identifiers {
            write_identifiers(conn, &self.user)?;
        }
        Ok(Some(self.user))
    }
}

/// The stored document of a user.
fn user_doc(conn: &Connection, id: &str) -> StoreResult<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT doc FROM users WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?)
}

/// Reads the user and runs the edit: `None` when there is no such user.
fn edited(
    conn: &Connection,
    id: &str,
    edit: &UserEdit,
) -> StoreResult<Option<(User, User, String)>> {
    let Some(doc) = user_doc(conn, id)? else {
        return Ok(None);
    };
    let before = decode_user(&doc)?;
    let mut after = before.clone();
    edit(&mut after)?;
    Ok(Some((before, after, doc)))
}

fn write_identifiers(tx: &Connection, user: &User) -> StoreResult<()> {
    tx.prepare_cached("DELETE FROM identifiers WHERE user_id = ?1")?
        .execute([&user.id])?;
    let mut insert =
        tx.prepare_cached("INSERT INTO identifiers (kind, value, user_id) VALUES (?1, ?2, ?3)")?;
    for e in &user.email_addresses {
        insert.execute(params!["email_address", e.value, user.id])?;
    }
    for p in &user.phone_numbers {
        insert.execute(params!["phone_number", p.value, user.id])?;
    }
    Ok(())
}

fn save_user(tx: &Connection, user: &User) -> StoreResult<()> {
    let values = std::iter::once(SqlValue::Text(user.id.clone()))
        .chain(user_columns(user).into_iter().map(|(_, v)| v))
        .chain(std::iter::once(doc_of(user)?));
    tx.prepare_cached(
        "INSERT INTO users (id, created_at, updated_at, external_id, username, first_name, last_name,
                            primary_email, primary_phone, banned, last_sign_in_at, last_active_at,
                            search, name_search, emails, phones, doc)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)
         ON CONFLICT (id) DO UPDATE SET
            created_at = excluded.created_at, updated_at = excluded.updated_at,
            external_id = excluded.external_id, username = excluded.username,
            first_name = excluded.first_name, last_name = excluded.last_name,
            primary_email = excluded.primary_email, primary_phone = excluded.primary_phone,
            banned = excluded.banned, last_sign_in_at = excluded.last_sign_in_at,
            last_active_at = excluded.last_active_at, search = excluded.search,
            name_search = excluded.name_search, emails = excluded.emails,
            phones = excluded.phones, doc = excluded.doc",
    )?
    .execute(rusqlite::params_from_iter(values))?;
    write_identifiers(tx, user)
}

#[async_trait]
impl Store for SqliteStore {
    async fn instance_or_create(&self, candidate: Instance) -> StoreResult<Instance> {
        self.write(move |conn| {
            conn.execute(
                "INSERT OR IGNORE INTO instance (singleton, id, publishable_key, created_at)
                 VALUES (1, ?1, ?2, ?3)",
                params![
                    candidate.id,
                    candidate.publishable_key,
                    candidate.created_at
                ],
            )?;
            Ok(conn.query_row(
                "SELECT id, publishable_key, created_at FROM instance WHERE singleton = 1",
                [],
                |r| {
                    Ok(Instance {
                        id: r.get(0)?,
                        publishable_key: r.get(1)?,
                        created_at: r.get(2)?,
                    })
                },
            )?)
        })
        .await
    }

    async fn add_secret_key_hash(&self, hash: &str, now: i64) -> StoreResult<()> {
        let hash = hash.to_owned();
        self.write(move |conn| {
            conn.execute(
                "INSERT OR IGNORE INTO secret_keys (hash, created_at) VALUES (?1, ?2)",
                params![hash, now],
            )?;
            Ok(())
        })
        .await
    }

    async fn secret_key_hash_exists(&self, hash: &str) -> StoreResult<bool> {
        let hash = hash.to_owned();
        self.point_read(move |conn| {
            Ok(conn
                .query_row("SELECT 1 FROM secret_keys WHERE hash = ?1", [hash], |_| {
                    Ok(())
                })
                .optional()?
                .is_some())
        })
        .await
    }

    async fn secret_key_hashes(&self) -> StoreResult<Vec<String>> {
        self.read(|conn| {
            let mut stmt = conn.prepare("SELECT hash FROM secret_keys ORDER BY created_at")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            Ok(rows.collect::<Result<Vec<String>, _>>()?)
        })
        .await
    }

    async fn insert_user(&self, user: User) -> StoreResult<User> {
        self.write(move |conn| {
            check_identifiers(conn, &user)?;
            save_user(conn, &user)?;
            Ok(user)
        })
        .await
    }

    async fn insert_users(&self, users: Vec<User>) -> StoreResult<()> {
        self.write(move |conn| {
            for user in &users {
                save_user(conn, user).map_err(|e| match e {
                    StoreError::Internal(m) if m.contains("UNIQUE") => {
                        StoreError::Domain(DomainError::IdentifierTaken {
                            param: "email_address",
                        })
                    }
                    other => other,
                })?;
            }
            Ok(())
        })
        .await
    }

    async fn get_user(&self, id: &str) -> StoreResult<Option<User>> {
        let id = id.to_owned();
        self.point_read(move |conn| user_doc(conn, &id)?.as_deref().map(decode_user).transpose())
            .await
    }

    async fn update_user(&self, id: &str, edit: UserEdit) -> StoreResult<Option<User>> {
        // The single writer is the bottleneck of every write, so the read, the decoding, the
        // edit and the encoding run on a reader, and the writer only writes if the row still
        // holds the document the edit was computed from. A row changed in between is edited
        // again; after a few such races the whole edit runs on the writer, which always
        // succeeds.
        for _ in 0..OPTIMISTIC_EDITS {
            let (read_id, read_edit) = (id.to_owned(), Arc::clone(&edit));
            let update = self
                .point_read(move |conn| {
                    edited(conn, &read_id, &read_edit)?
                        .map(|(before, after, doc)| RowUpdate::new(&before, after, Some(doc)))
                        .transpose()
                })
                .await?;
            let Some(update) = update else {
                return Ok(None);
            };
            if let Some(user) = self.write(move |conn| update.apply(conn)).await? {
                return Ok(Some(user));
            }
        }
        let id = id.to_owned();
        self.write(move |conn| match edited(conn, &id, &edit)? {
            Some((before, after, _)) => RowUpdate::new(&before, after, None)?.apply(conn),
            None => Ok(None),
        })
        .await
    }

    async fn delete_user(&self, id: &str) -> StoreResult<bool> {
        let id = id.to_owned();
        self.write(move |conn| Ok(conn.execute("DELETE FROM users WHERE id = ?1", [id])? > 0))
            .await
    }

    async fn list_users(&self, query: &UserQuery) -> StoreResult<Vec<User>> {
        if query.filter.holds_nul() {
            return Ok(Vec::new());
        }
        let query = query.clone();
        self.read(move |conn| {
            let mut sql = SqlFilter::new(&DIALECT);
            sql.dense = dense_fields(conn, &query.filter)?;
            sql.push_page_query(&query);
            let mut stmt = conn.prepare_cached(&sql.sql)?;
            let docs = stmt
                .query_map(rusqlite::params_from_iter(to_sql(sql.params)), |r| {
                    r.get::<_, String>(0)
                })?
                .collect::<Result<Vec<_>, _>>()?;
            docs.iter().map(|d| decode_user(d)).collect()
        })
        .await
    }

    async fn count_users(&self, filter: &UserFilter) -> StoreResult<u64> {
        if filter.holds_nul() {
            return Ok(0);
        }
        let mut sql = SqlFilter::new(&DIALECT);
        sql.sql.push_str("SELECT COUNT(*) FROM users");
        sql.push_where(filter);
        self.read(move |conn| {
            let n: i64 = conn
                .prepare_cached(&sql.sql)?
                .query_row(rusqlite::params_from_iter(to_sql(sql.params)), |r| r.get(0))?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
        .await
    }

    async fn signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT kid, private_key, created_at, retired_at, max_exp FROM signing_keys ORDER BY created_at, kid",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(SigningKeyRecord {
                    kid: r.get(0)?,
                    private_key: r.get(1)?,
                    created_at: r.get(2)?,
                    retired_at: r.get(3)?,
                    max_exp: r.get(4)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn add_signing_key(&self, key: SigningKeyRecord) -> StoreResult<()> {
        self.write(move |conn| {
            conn.execute(
                "INSERT OR IGNORE INTO signing_keys (kid, private_key, created_at, retired_at, max_exp)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![key.kid, key.private_key, key.created_at, key.retired_at, key.max_exp],
            )?;
            Ok(())
        })
        .await
    }

    async fn retire_signing_keys_except(&self, kid: &str, now: i64) -> StoreResult<()> {
        let kid = kid.to_owned();
        self.write(move |conn| {
            conn.execute(
                "UPDATE signing_keys SET retired_at = ?2 WHERE kid <> ?1 AND retired_at IS NULL",
                params![kid, now],
            )?;
            Ok(())
        })
        .await
    }

    async fn note_signing_exp(&self, kid: &str, exp: i64) -> StoreResult<()> {
        let kid = kid.to_owned();
        self.write(move |conn| {
            conn.execute(
                "UPDATE signing_keys SET max_exp = ?2 WHERE kid = ?1 AND max_exp < ?2",
                params![kid, exp],
            )?;
            Ok(())
        })
        .await
    }

    async fn setting(&self, key: &str) -> StoreResult<Option<String>> {
        let key = key.to_owned();
        self.point_read(move |conn| {
            Ok(conn
                .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                    r.get(0)
                })
                .optional()?)
        })
        .await
    }

    async fn set_setting(&self, key: &str, value: &str) -> StoreResult<()> {
        let (key, value) = (key.to_owned(), value.to_owned());
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO settings (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )?;
            Ok(())
        })
        .await
    }

    async fn insert_session(&self, session: Session) -> StoreResult<Session> {
        self.write(move |conn| {
            conn.execute(
                &format!("INSERT INTO sessions ({SESSION_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"),
                params![
                    session.id,
                    session.user_id,
                    session.client_id,
                    session.status.as_str(),
                    session.last_active_at,
                    session.expire_at,
                    session.abandon_at,
                    session.created_at,
                    session.updated_at
                ],
            )?;
            Ok(session)
        })
        .await
    }

    async fn get_session(&self, id: &str) -> StoreResult<Option<Session>> {
        let id = id.to_owned();
        self.point_read(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?1"
            ))?
            .query_row([id], session_row)
            .optional()?
            .map(finish_session)
            .transpose()
        })
        .await
    }

    async fn list_sessions(&self, filter: &SessionFilter) -> StoreResult<(Vec<Session>, u64)> {
        if filter.holds_nul() {
            return Ok((Vec::new(), 0));
        }
        let filter = filter.clone();
        self.read(move |conn| {
            let (clause, params) = session_where(&filter, |n| format!("?{n}"));
            let total: i64 = conn.query_row(
                &format!("SELECT COUNT(*) FROM sessions{clause}"),
                rusqlite::params_from_iter(to_sql(params.clone())),
                |r| r.get(0),
            )?;
            let sql = format!(
                "SELECT {SESSION_COLUMNS} FROM sessions{clause} ORDER BY created_at DESC, id DESC LIMIT {} OFFSET {}",
                filter.limit, filter.offset
            );
            let mut stmt = conn.prepare(&sql)?;
            let rows = stmt
                .query_map(rusqlite::params_from_iter(to_sql(params)), session_row)?
                .collect::<Result<Vec<_>, _>>()?;
            let sessions = rows.into_iter().map(finish_session).collect::<StoreResult<Vec<_>>>()?;
            Ok((sessions, u64::try_from(total).unwrap_or(0)))
        })
        .await
    }

    async fn set_session_status(
        &self,
        id: &str,
        status: SessionStatus,
        now: i64,
    ) -> StoreResult<Option<Session>> {
        let id = id.to_owned();
        self.write(move |conn| {
            conn.execute(
                "UPDATE sessions SET status = ?2, updated_at = ?3 WHERE id = ?1",
                params![id, status.as_str(), now],
            )?;
            conn.query_row(
                &format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?1"),
                [id],
                session_row,
            )
            .optional()?
            .map(finish_session)
            .transpose()
        })
        .await
    }

    async fn revoke_user_sessions(
        &self,
        user_id: &str,
        except: Option<&str>,
        now: i64,
    ) -> StoreResult<u64> {
        let (user_id, except) = (user_id.to_owned(), except.map(str::to_owned));
        self.write(move |conn| {
            let n = conn.execute(
                "UPDATE sessions SET status = 'revoked', updated_at = ?2 \
                 WHERE user_id = ?1 AND status = 'active' AND (?3 IS NULL OR id <> ?3)",
                params![user_id, now, except],
            )?;
            Ok(n as u64)
        })
        .await
    }

    async fn insert_jwt_template(&self, template: JwtTemplate) -> StoreResult<JwtTemplate> {
        self.write(move |conn| {
            let claims = serde_json::to_string(&template.claims).map_err(internal)?;
            let inserted = conn.execute(
                &format!("INSERT INTO jwt_templates ({TEMPLATE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
                params![
                    template.id,
                    template.name,
                    claims,
                    template.lifetime,
                    template.allowed_clock_skew,
                    template.created_at,
                    template.updated_at
                ],
            );
            match inserted {
                Err(e) if is_unique_violation(&e) => Err(DomainError::AlreadyExists { param: "name" }.into()),
                other => {
                    other?;
                    Ok(template)
                }
            }
        })
        .await
    }

    async fn jwt_template(&self, id: &str) -> StoreResult<Option<JwtTemplate>> {
        let id = id.to_owned();
        self.point_read(move |conn| {
            conn.query_row(
                &format!("SELECT {TEMPLATE_COLUMNS} FROM jwt_templates WHERE id = ?1"),
                [id],
                template_row,
            )
            .optional()?
            .map(finish_template)
            .transpose()
        })
        .await
    }

    async fn jwt_template_by_name(&self, name: &str) -> StoreResult<Option<JwtTemplate>> {
        let name = name.to_owned();
        self.point_read(move |conn| {
            conn.query_row(
                &format!("SELECT {TEMPLATE_COLUMNS} FROM jwt_templates WHERE name = ?1"),
                [name],
                template_row,
            )
            .optional()?
            .map(finish_template)
            .transpose()
        })
        .await
    }

    async fn list_jwt_templates(
        &self,
        limit: u32,
        offset: u64,
    ) -> StoreResult<(Vec<JwtTemplate>, u64)> {
        self.read(move |conn| {
            let total: i64 = conn.query_row("SELECT COUNT(*) FROM jwt_templates", [], |r| r.get(0))?;
            let mut stmt = conn.prepare(&format!(
                "SELECT {TEMPLATE_COLUMNS} FROM jwt_templates ORDER BY created_at DESC, id DESC LIMIT ?1 OFFSET ?2"
            ))?;
            let rows = stmt
                .query_map(params![limit, i64::try_from(offset).unwrap_or(i64::MAX)], template_row)?
                .collect::<Result<Vec<_>, _>>()?;
            let templates = rows.into_iter().map(finish_template).collect::<StoreResult<Vec<_>>>()?;
            Ok((templates, u64::try_from(total).unwrap_or(0)))
        })
        .await
    }

    async fn update_jwt_template(&self, template: JwtTemplate) -> StoreResult<Option<JwtTemplate>> {
        self.write(move |conn| {
            let claims = serde_json::to_string(&template.claims).map_err(internal)?;
            let updated = conn.execute(
                "UPDATE jwt_templates SET name = ?2, claims = ?3, lifetime = ?4, allowed_clock_skew = ?5, updated_at = ?6
                 WHERE id = ?1",
                params![template.id, template.name, claims, template.lifetime, template.allowed_clock_skew, template.updated_at],
            );
            match updated {
                Err(e) if is_unique_violation(&e) => Err(DomainError::AlreadyExists { param: "name" }.into()),
                Ok(0) => Ok(None),
                other => {
                    other?;
                    Ok(Some(template))
                }
            }
        })
        .await
    }

    async fn delete_jwt_template(&self, id: &str) -> StoreResult<bool> {
        let id = id.to_owned();
        self.write(move |conn| {
            Ok(conn.execute("DELETE FROM jwt_templates WHERE id = ?1", [id])? > 0)
        })
        .await
    }

    async fn get_client(&self, id: &str) -> StoreResult<Option<Client>> {
        let id = id.to_owned();
        self.point_read(move |conn| {
            let doc: Option<String> = conn
                .prepare_cached("SELECT doc FROM clients WHERE id = ?1")?
                .query_row([id], |r| r.get(0))
                .optional()?;
            doc.map(|d| serde_json::from_str(&d).map_err(internal))
                .transpose()
        })
        .await
    }

    async fn put_client(&self, client: &Client) -> StoreResult<()> {
        let doc = serde_json::to_string(client).map_err(internal)?;
        let (id, updated_at) = (client.id.clone(), client.updated_at);
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO clients (id, doc, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (id) DO UPDATE SET doc = excluded.doc, updated_at = excluded.updated_at",
                params![id, doc, updated_at],
            )?;
            Ok(())
        })
        .await
    }

    async fn ping(&self) -> StoreResult<()> {
        self.read(|conn| Ok(conn.query_row("SELECT 1", [], |_| Ok(()))?))
            .await
    }

    async fn hit_rate_limit(&self, hit: &RateLimitHit) -> StoreResult<WindowCounts> {
        let hit = hit.clone();
        // On the writer, so the increment and the read of the previous window are one step even
        // with several processes on the file (each writer holds SQLite's write lock to commit).
        self.write(move |conn| {
            let current: i64 = conn
                .prepare_cached(
                    "INSERT INTO rate_limit_hits (key, window_start, hits, expires_at)
                     VALUES (?1, ?2, 1, ?3)
                     ON CONFLICT (key, window_start) DO UPDATE SET hits = hits + 1
                     RETURNING hits",
                )?
                .query_row(params![hit.key, hit.window_start, hit.expires_at], |r| {
                    r.get(0)
                })?;
            let previous: i64 = conn
                .prepare_cached(
                    "SELECT hits FROM rate_limit_hits WHERE key = ?1 AND window_start = ?2",
                )?
                .query_row(params![hit.key, hit.previous_window_start], |r| r.get(0))
                .optional()?
                .unwrap_or(0);
            if current == 1 {
                conn.prepare_cached(
                    "DELETE FROM rate_limit_hits WHERE rowid IN
                        (SELECT rowid FROM rate_limit_hits WHERE expires_at <= ?1 LIMIT ?2)",
                )?
                .execute(params![hit.now, crate::RATE_LIMIT_SWEEP_BATCH])?;
            }
            Ok(WindowCounts { current, previous })
        })
        .await
    }
}

//! PostgreSQL, for many users and many Roster processes. All shared state lives here, so any
//! number of stateless Roster instances on one database behave as one server.
//!
//! Edits lock the user's row (`SELECT … FOR UPDATE`) for the whole read-modify-write, so
//! concurrent merges through different processes never lose an acknowledged write. Substring
//! filters are served by pg_trgm GIN indexes.

use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{
    GenericClient, Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime,
};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::NoTls;

use roster_domain::query::{OrderField, UserFilter, UserQuery};
use roster_domain::rate_limit::{RateLimitHit, WindowCounts};
use roster_domain::{DomainError, User};

use crate::filter_sql::{Dialect, PageScan, SqlFilter, SqlParam, TextField};
use crate::{
    name_text, search_text, session_where, status_of, ClaimsSource, IdentityChange, Instance,
    MintingRead, SessionFilter, SigningKeyRecord, Store, StoreError, StoreResult, UserEdit,
};
use roster_domain::client::Client;
use roster_domain::session::{JwtTemplate, Session, SessionStatus};

/// Migrations in order; the schema version is the number applied.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/postgres/0001_init.sql"),
    include_str!("../migrations/postgres/0002_sessions_tokens.sql"),
    include_str!("../migrations/postgres/0003_clients.sql"),
    include_str!("../migrations/postgres/0004_rate_limits.sql"),
    include_str!("../migrations/postgres/0005_user_search.sql"),
];
/// Serialises migrations when several processes start at once.
const MIGRATION_LOCK: i64 = 0x526f_7374_6572; // "Roster"
const POOL_SIZE: usize = 16;

/// Placeholders are `$N`; pg_trgm GIN indexes (on `user_search` and `identifiers`) serve
/// `LIKE '%…%'` directly.
static DIALECT: Dialect = Dialect {
    placeholder: |n| format!("${n}"),
    contains: |f, field, needle| match field {
        // Dense: testing the user's own copy of the text, row by row (see `list_users`).
        TextField::Any if f.dense.contains(&field) => f.like("search", needle),
        TextField::Name if f.dense.contains(&field) => f.like("name_search", needle),
        TextField::Username if f.dense.contains(&field) => f.like("username", needle),
        TextField::Any => f.search_like("search", needle),
        TextField::Name => f.search_like("name_search", needle),
        TextField::Username => f.search_like("username", needle),
        TextField::EmailAddress => f.identifier_like("email_address", needle),
        TextField::PhoneNumber => f.identifier_like("phone_number", needle),
    },
};
/// List queries without substring filters plan the same whatever their values (an exact
/// identifier, a page of a sort order), so each shape is prepared once per connection: one round
/// trip and no planning per request. Substring filters are planned for each needle, because a
/// generic plan cannot tell a needle matching ten users from one matching half of them. Shapes
/// are many (filters, list lengths, orders), so a connection's cache starts over past this size.
const MAX_CACHED_STATEMENTS: usize = 256;
/// Users in list order a substring filter is first tried on (see `list_users`).
const SUBSTRING_LEADING_ROWS: u32 = 500;
const POOL_TIMEOUT: Duration = Duration::from_secs(5);

pub struct PostgresStore {
    pool: Pool,
}

fn classify(e: tokio_postgres::Error) -> StoreError {
    if e.is_closed() {
        return StoreError::Unavailable(e.to_string());
    }
    match e.code() {
        None => StoreError::Unavailable(e.to_string()),
        Some(code)
            if code.code().starts_with("08")
                || code.code().starts_with("57P")
                || code.code().starts_with("53")
                // A statement timeout, a deadlock or a serialization failure: transient, so a
                // 503 with Retry-After that clients retry, not a 500.
                || *code == SqlState::QUERY_CANCELED
                || *code == SqlState::T_R_DEADLOCK_DETECTED
                || *code == SqlState::T_R_SERIALIZATION_FAILURE =>
        {
            StoreError::Unavailable(e.to_string())
        }
        Some(code) if *code == SqlState::UNIQUE_VIOLATION => unique_violation(&e),
        Some(_) => StoreError::Internal(e.to_string()),
    }
}

/// A unique index refused a write that raced past the identifier check: name the identifier.
fn unique_violation(e: &tokio_postgres::Error) -> StoreError {
    let db = e.as_db_error();
    let constraint = db.and_then(|d| d.constraint()).unwrap_or("");
    let detail = db.map(|d| d.detail().unwrap_or("")).unwrap_or("");
    let param = match constraint {
        "users_username_key" => "username",
        "users_external_id_key" => "external_id",
        "identifiers_pkey" if detail.contains("(phone_number,") => "phone_number",
        "identifiers_pkey" => "email_address",
        _ => return StoreError::Internal(e.to_string()),
    };
    DomainError::IdentifierTaken { param }.into()
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        classify(e)
    }
}

impl From<PoolError> for StoreError {
    fn from(e: PoolError) -> Self {
        match e {
            PoolError::Backend(e) => classify(e),
            other => StoreError::Unavailable(other.to_string()),
        }
    }
}

fn internal(e: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(e.to_string())
}

impl PostgresStore {
    /// Connects (lazily, through a pool) and applies pending migrations.
    pub async fn connect(url: &str) -> StoreResult<PostgresStore> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Internal(format!("invalid PostgreSQL URL: {e}")))?;
        config.connect_timeout(POOL_TIMEOUT);
        if config.get_application_name().is_none() {
            config.application_name("roster");
        }
        config.options("-c statement_timeout=15000");
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .wait_timeout(Some(POOL_TIMEOUT))
            .create_timeout(Some(POOL_TIMEOUT))
            .recycle_timeout(Some(POOL_TIMEOUT))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(internal)?;
        let store = PostgresStore { pool };
        store.migrate().await?;
        Ok(store)
    }

    /// At most one row, by key, through a statement prepared once per connection: one round trip
    /// per read instead of two.
    async fn point_row(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> StoreResult<Option<tokio_postgres::Row>> {
        let client = self.pool.get().await?;
        let statement = client.prepare_cached(sql).await?;
        Ok(client.query_opt(&statement, params).await?)
    }

    async fn migrate(&self) -> StoreResult<()> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        // A migration may rebuild indexes over every user: the requests' statement timeout does
        // not apply to it (nor to processes waiting here for another's migration).
        tx.batch_execute("SET LOCAL statement_timeout = 0").await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")
            .await?;
        let current: i64 = tx
            .query_one("SELECT COALESCE(MAX(version), 0) FROM schema_version", &[])
            .await?
            .get(0);
        let supported = MIGRATIONS.len() as i64;
        if current > supported {
            return Err(StoreError::SchemaTooNew {
                found: current,
                supported,
            });
        }
        for (index, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
            tx.batch_execute(sql).await?;
            tx.execute(
                "INSERT INTO schema_version (version) VALUES ($1)",
                &[&(index as i64 + 1)],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

const SESSION_COLUMNS: &str =
    "id, user_id, client_id, status, last_active_at, expire_at, abandon_at, created_at, updated_at";
const TEMPLATE_COLUMNS: &str =
    "id, name, claims, lifetime, allowed_clock_skew, created_at, updated_at";

fn session_of(r: &tokio_postgres::Row) -> StoreResult<Session> {
    Ok(Session {
        id: r.get(0),
        user_id: r.get(1),
        client_id: r.get(2),
        status: status_of(r.get(3))?,
        last_active_at: r.get(4),
        expire_at: r.get(5),
        abandon_at: r.get(6),
        created_at: r.get(7),
        updated_at: r.get(8),
    })
}

fn template_of(r: &tokio_postgres::Row) -> StoreResult<JwtTemplate> {
    template_at(r, 0)
}

/// A template from the row's columns `at..at + 7` (in `TEMPLATE_COLUMNS` order).
fn template_at(r: &tokio_postgres::Row, at: usize) -> StoreResult<JwtTemplate> {
    Ok(JwtTemplate {
        id: r.get(at),
        name: r.get(at + 1),
        claims: serde_json::from_str(r.get(at + 2)).map_err(internal)?,
        lifetime: r.get(at + 3),
        allowed_clock_skew: r.get(at + 4),
        created_at: r.get(at + 5),
        updated_at: r.get(at + 6),
    })
}

/// `minting_read` in one statement: the session's columns, the user's doc, then the claims
/// source's columns, each `NULL` when absent. The one-row `FROM` keeps the claims when there
/// is no session.
fn minting_sql(claims: ClaimsSource<'_>) -> &'static str {
    /// `columns` are the claims source's, from the table joined as `t` by `join`.
    fn build(columns: &str, join: &str) -> String {
        let prefixed = |list: &str, alias: &str| {
            list.split(", ")
                .map(|c| format!("{alias}.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!(
            "SELECT {}, u.doc, {} FROM (SELECT 1) one \
             LEFT JOIN sessions s ON s.id = $1 LEFT JOIN users u ON u.id = s.user_id \
             LEFT JOIN {join}",
            prefixed(SESSION_COLUMNS, "s"),
            prefixed(columns, "t"),
        )
    }
    static TEMPLATE: LazyLock<String> =
        LazyLock::new(|| build(TEMPLATE_COLUMNS, "jwt_templates t ON t.name = $2"));
    static SETTING: LazyLock<String> = LazyLock::new(|| build("value", "settings t ON t.key = $2"));
    match claims {
        ClaimsSource::Template(_) => &TEMPLATE,
        ClaimsSource::Setting(_) => &SETTING,
    }
}

/// A template write refused by the unique name index.
fn template_write(e: tokio_postgres::Error) -> StoreError {
    if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
        DomainError::AlreadyExists { param: "name" }.into()
    } else {
        classify(e)
    }
}

fn decode_user(doc: &str) -> StoreResult<User> {
    serde_json::from_str(doc).map_err(internal)
}

fn boxed(params: Vec<SqlParam>) -> Vec<Box<dyn ToSql + Sync + Send>> {
    params
        .into_iter()
        .map(|p| -> Box<dyn ToSql + Sync + Send> {
            match p {
                SqlParam::Text(s) => Box::new(s),
                SqlParam::Int(n) => Box::new(n),
                SqlParam::Bool(b) => Box::new(b),
            }
        })
        .collect()
}

fn refs(params: &[Box<dyn ToSql + Sync + Send>]) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

/// Fails with `IdentifierTaken` when another user holds one of this user's unique identifiers.
/// The unique indexes back this up when two transactions race.
async fn check_identifiers(tx: &impl GenericClient, user: &User) -> StoreResult<()> {
    let kinds = user
        .email_addresses
        .iter()
        .map(|e| ("email_address", &e.value))
        .chain(
            user.phone_numbers
                .iter()
                .map(|p| ("phone_number", &p.value)),
        );
    for (kind, value) in kinds {
        let taken = tx
            .query_opt(
                "SELECT 1 FROM identifiers WHERE kind = $1 AND value = $2 AND user_id <> $3",
                &[&kind, value, &user.id],
            )
            .await?;
        if taken.is_some() {
            let param = if kind == "email_address" {
                "email_address"
            } else {
                "phone_number"
            };
            return Err(DomainError::IdentifierTaken { param }.into());
        }
    }
    for (param, sql, value) in [
        (
            "username",
            "SELECT 1 FROM users WHERE username = $1 AND id <> $2",
            &user.username,
        ),
        (
            "external_id",
            "SELECT 1 FROM users WHERE external_id = $1 AND id <> $2",
            &user.external_id,
        ),
    ] {
        if let Some(v) = value {
            if tx.query_opt(sql, &[v, &user.id]).await?.is_some() {
                return Err(DomainError::IdentifierTaken { param }.into());
            }
        }
    }
    Ok(())
}

/// A `users` column value copied out of the document.
#[derive(PartialEq)]
enum Column {
    Text(Option<String>),
    Int(Option<i64>),
    Bool(bool),
}

impl Column {
    fn boxed(self) -> Box<dyn ToSql + Sync + Send> {
        match self {
            Column::Text(v) => Box::new(v),
            Column::Int(v) => Box::new(v),
            Column::Bool(v) => Box::new(v),
        }
    }
}

/// The `users` columns copied out of the document, in the order of `save_user`'s insert
/// (between `id` and `doc`).
fn user_columns(user: &User) -> [(&'static str, Column); 13] {
    let text = |v: Option<&str>| Column::Text(v.map(str::to_owned));
    [
        ("created_at", Column::Int(Some(user.created_at))),
        ("updated_at", Column::Int(Some(user.updated_at))),
        ("external_id", text(user.external_id.as_deref())),
        ("username", text(user.username.as_deref())),
        ("first_name", text(user.first_name.as_deref())),
        ("last_name", text(user.last_name.as_deref())),
        ("primary_email", text(user.primary_email())),
        ("primary_phone", text(user.primary_phone())),
        ("banned", Column::Bool(user.banned)),
        ("last_sign_in_at", Column::Int(user.last_sign_in_at)),
        ("last_active_at", Column::Int(user.last_active_at)),
        ("search", Column::Text(Some(search_text(user)))),
        ("name_search", Column::Text(Some(name_text(user)))),
    ]
}

/// Writes an edited user, touching only what changed: a metadata merge rewrites `doc` and
/// `updated_at`, not the identifier rows, and checks uniqueness only when an identifier changed.
async fn update_user_row(tx: &impl GenericClient, before: &User, after: &User) -> StoreResult<()> {
    let change = IdentityChange::between(before, after);
    if change.needs_uniqueness_check() {
        check_identifiers(tx, after).await?;
    }
    let mut sets = Vec::new();
    let mut values: Vec<Box<dyn ToSql + Sync + Send>> = Vec::new();
    for ((name, was), (_, now)) in user_columns(before).into_iter().zip(user_columns(after)) {
        if was != now {
            values.push(now.boxed());
            sets.push(format!("{name} = ${}", values.len()));
        }
    }
    values.push(Box::new(serde_json::to_string(after).map_err(internal)?));
    sets.push(format!("doc = ${}", values.len()));
    values.push(Box::new(after.id.clone()));
    let sql = format!(
        "UPDATE users SET {} WHERE id = ${}",
        sets.join(", "),
        values.len()
    );
    let statement = tx.prepare_cached(&sql).await?;
    tx.execute(&statement, &refs(&values)).await?;
    if change.identifiers {
        write_identifiers(tx, after).await?;
    }
    Ok(())
}

/// One page of a substring-filtered list, found the way `scan` says (see `list_users`).
async fn page_rows(
    client: &impl GenericClient,
    query: &UserQuery,
    scan: PageScan,
) -> StoreResult<Vec<tokio_postgres::Row>> {
    let mut sql = SqlFilter::new(&DIALECT);
    if let PageScan::Leading(_) = scan {
        // The leading users are few: test each one's text rather than search the index.
        sql.dense = vec![TextField::Any, TextField::Name, TextField::Username];
    }
    sql.push_page_query_with(query, scan);
    let params = boxed(sql.params);
    Ok(client.query(&sql.sql, &refs(&params)).await?)
}

/// Writes the user's row and identifiers (insert or replace).
async fn save_user(tx: &impl GenericClient, user: &User) -> StoreResult<()> {
    let values: Vec<Box<dyn ToSql + Sync + Send>> =
        std::iter::once(Column::Text(Some(user.id.clone())))
            .chain(user_columns(user).into_iter().map(|(_, v)| v))
            .map(Column::boxed)
            .chain(std::iter::once(
                Box::new(serde_json::to_string(user).map_err(internal)?)
                    as Box<dyn ToSql + Sync + Send>,
            ))
            .collect();
    tx.execute(
        "INSERT INTO users (id, created_at, updated_at, external_id, username, first_name, last_name,
                            primary_email, primary_phone, banned, last_sign_in_at, last_active_at,
                            search, name_search, doc)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
         ON CONFLICT (id) DO UPDATE SET
            created_at = excluded.created_at, updated_at = excluded.updated_at,
            external_id = excluded.external_id, username = excluded.username,
            first_name = excluded.first_name, last_name = excluded.last_name,
            primary_email = excluded.primary_email, primary_phone = excluded.primary_phone,
            banned = excluded.banned, last_sign_in_at = excluded.last_sign_in_at,
            last_active_at = excluded.last_active_at, search = excluded.search,
            name_search = excluded.name_search, doc = excluded.doc",
        &refs(&values),
    )
    .await?;
    write_identifiers(tx, user).await
}

async fn write_identifiers(tx: &impl GenericClient, user: &User) -> StoreResult<()> {
    tx.execute("DELETE FROM identifiers WHERE user_id = $1", &[&user.id])
        .await?;
    let (kinds, values): (Vec<&str>, Vec<&str>) = user
        .email_addresses
        .iter()
        .map(|e| ("email_address", e.value.as_str()))
        .chain(
            user.phone_numbers
                .iter()
                .map(|p| ("phone_number", p.value.as_str())),
        )
        .unzip();
    if !kinds.is_empty() {
        tx.execute(
            "INSERT INTO identifiers (kind, value, user_id)
             SELECT k, v, $3 FROM UNNEST($1::text[], $2::text[]) AS t (k, v)",
            &[&kinds, &values, &user.id],
        )
        .await?;
    }
    Ok(())
}

#[async_trait]
impl Store for PostgresStore {
    async fn instance_or_create(&self, candidate: Instance) -> StoreResult<Instance> {
        let client = self.pool.get().await?;
        client
            .execute(
                "INSERT INTO instance (singleton, id, publishable_key, created_at)
                 VALUES (1, $1, $2, $3) ON CONFLICT (singleton) DO NOTHING",
                &[
                    &candidate.id,
                    &candidate.publishable_key,
                    &candidate.created_at,
                ],
            )
            .await?;
        let row = client
            .query_one(
                "SELECT id, publishable_key, created_at FROM instance WHERE singleton = 1",
                &[],
            )
            .await?;
        Ok(Instance {
            id: row.get(0),
            publishable_key: row.get(1),
            created_at: row.get(2),
        })
    }

    async fn add_secret_key_hash(&self, hash: &str, now: i64) -> StoreResult<()> {
        let client = self.pool.get().await?;
        client
            .execute(
                "INSERT INTO secret_keys (hash, created_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&hash, &now],
            )
            .await?;
        Ok(())
    }

    async fn secret_key_hash_exists(&self, hash: &str) -> StoreResult<bool> {
        Ok(self
            .point_row("SELECT 1 FROM secret_keys WHERE hash = $1", &[&hash])
            .await?
            .is_some())
    }

    async fn secret_key_hashes(&self) -> StoreResult<Vec<String>> {
        let client = self.pool.get().await?;
        let rows = client
            .query("SELECT hash FROM secret_keys ORDER BY created_at", &[])
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn insert_user(&self, user: User) -> StoreResult<User> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        check_identifiers(&tx, &user).await?;
        save_user(&tx, &user).await?;
        tx.commit().await?;
        Ok(user)
    }

    async fn insert_users(&self, users: Vec<User>) -> StoreResult<()> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let statement = tx
            .prepare(
                "INSERT INTO users (id, created_at, updated_at, external_id, username, first_name,
                                    last_name, primary_email, primary_phone, banned,
                                    last_sign_in_at, last_active_at, search, name_search, doc)
                 SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::bigint[], $4::text[],
                                      $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
                                      $10::bool[], $11::bigint[], $12::bigint[], $13::text[],
                                      $14::text[], $15::text[])",
            )
            .await?;
        let mut columns = BulkColumns::default();
        for user in &users {
            columns.push(user)?;
        }
        let c = &columns;
        tx.execute(
            &statement,
            &[
                &c.id,
                &c.created_at,
                &c.updated_at,
                &c.external_id,
                &c.username,
                &c.first_name,
                &c.last_name,
                &c.primary_email,
                &c.primary_phone,
                &c.banned,
                &c.last_sign_in_at,
                &c.last_active_at,
                &c.search,
                &c.name_search,
                &c.doc,
            ],
        )
        .await?;
        tx.execute(
            "INSERT INTO identifiers (kind, value, user_id)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[])",
            &[
                &c.identifier_kinds,
                &c.identifier_values,
                &c.identifier_users,
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn get_user(&self, id: &str) -> StoreResult<Option<User>> {
        let row = self
            .point_row("SELECT doc FROM users WHERE id = $1", &[&id])
            .await?;
        row.map(|r| decode_user(r.get(0))).transpose()
    }

    async fn update_user(&self, id: &str, edit: UserEdit) -> StoreResult<Option<User>> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let statement = tx
            .prepare_cached("SELECT doc FROM users WHERE id = $1 FOR UPDATE")
            .await?;
        let Some(row) = tx.query_opt(&statement, &[&id]).await? else {
            return Ok(None);
        };
        let before = decode_user(row.get(0))?;
        let mut user = before.clone();
        edit(&mut user)?;
        update_user_row(&tx, &before, &user).await?;
        tx.commit().await?;
        Ok(Some(user))
    }

    async fn delete_user(&self, id: &str) -> StoreResult<bool> {
        let client = self.pool.get().await?;
        Ok(client
            .execute("DELETE FROM users WHERE id = $1", &[&id])
            .await?
            > 0)
    }

    async fn list_users(&self, query: &UserQuery) -> StoreResult<Vec<User>> {
        if query.filter.holds_nul() {
            return Ok(Vec::new());
        }
        let client = self.pool.get().await?;
        let substring = SqlFilter::substrings(&query.filter)
            .iter()
            .any(|(_, needle)| needle.is_some());
        if !substring {
            let mut sql = SqlFilter::new(&DIALECT);
            sql.push_page_query(query);
            let params = boxed(sql.params);
            if client.statement_cache.size() >= MAX_CACHED_STATEMENTS {
                client.statement_cache.clear();
            }
            let statement = client.prepare_cached(&sql.sql).await?;
            let rows = client.query(&statement, &refs(&params)).await?;
            return rows.iter().map(|r| decode_user(r.get(0))).collect();
        }
        // The planner guesses a substring's selectivity from a sample, and a rare needle taken
        // for a common one walked a million users (statement timeouts under load). So: the
        // leading users in list order first, which serves common needles at once, then the
        // matches from the trigram index, sorted, which costs what the matches cost. Only the
        // time orders have an index to lead with; other orders sort whatever they find, so the
        // planner cannot walk there.
        let indexed_order = matches!(
            query.order.field,
            OrderField::CreatedAt | OrderField::UpdatedAt | OrderField::Web3Wallet
        );
        if indexed_order {
            let leading =
                page_rows(&client, query, PageScan::Leading(SUBSTRING_LEADING_ROWS)).await?;
            if query.limit > 0 && leading.len() >= query.limit as usize {
                return leading.iter().map(|r| decode_user(r.get(0))).collect();
            }
        }
        let rows = page_rows(&client, query, PageScan::MatchesFirst).await?;
        rows.iter().map(|r| decode_user(r.get(0))).collect()
    }

    async fn count_users(&self, filter: &UserFilter) -> StoreResult<u64> {
        if filter.holds_nul() {
            return Ok(0);
        }
        let mut sql = SqlFilter::new(&DIALECT);
        sql.sql.push_str("SELECT COUNT(*) FROM users");
        sql.push_where(filter);
        let client = self.pool.get().await?;
        let params = boxed(sql.params);
        let n: i64 = client.query_one(&sql.sql, &refs(&params)).await?.get(0);
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT kid, private_key, created_at, retired_at, max_exp FROM signing_keys ORDER BY created_at, kid",
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| SigningKeyRecord {
                kid: r.get(0),
                private_key: r.get(1),
                created_at: r.get(2),
                retired_at: r.get(3),
                max_exp: r.get(4),
            })
            .collect())
    }

    async fn add_signing_key(&self, key: SigningKeyRecord) -> StoreResult<()> {
        let client = self.pool.get().await?;
        client
            .execute(
                "INSERT INTO signing_keys (kid, private_key, created_at, retired_at, max_exp)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (kid) DO NOTHING",
                &[
                    &key.kid,
                    &key.private_key,
                    &key.created_at,
                    &key.retired_at,
                    &key.max_exp,
                ],
            )
            .await?;
        Ok(())
    }

    async fn retire_signing_keys_except(&self, kid: &str, now: i64) -> StoreResult<()> {
        let client = self.pool.get().await?;
        client
            .execute(
                "UPDATE signing_keys SET retired_at = $2 WHERE kid <> $1 AND retired_at IS NULL",
                &[&kid, &now],
            )
            .await?;
        Ok(())
    }

    async fn note_signing_exp(&self, kid: &str, exp: i64) -> StoreResult<()> {
        let client = self.pool.get().await?;
        client
            .execute(
                "UPDATE signing_keys SET max_exp = $2 WHERE kid = $1 AND max_exp < $2",
                &[&kid, &exp],
            )
            .await?;
        Ok(())
    }

    async fn setting(&self, key: &str) -> StoreResult<Option<String>> {
        let row = self
            .point_row("SELECT value FROM settings WHERE key = $1", &[&key])
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn set_setting(&self, key: &str, value: &str) -> StoreResult<()> {
        let client = self.pool.get().await?;
        client
            .execute(
                "INSERT INTO settings (key, value) VALUES ($1, $2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                &[&key, &value],
            )
            .await?;
        Ok(())
    }

    async fn insert_session(&self, session: Session) -> StoreResult<Session> {
        let client = self.pool.get().await?;
        client
            .execute(
                &format!("INSERT INTO sessions ({SESSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"),
                &[
                    &session.id,
                    &session.user_id,
                    &session.client_id,
                    &session.status.as_str(),
                    &session.last_active_at,
                    &session.expire_at,
                    &session.abandon_at,
                    &session.created_at,
                    &session.updated_at,
                ],
            )
            .await?;
        Ok(session)
    }

    async fn minting_read(
        &self,
        session_id: &str,
        claims: ClaimsSource<'_>,
    ) -> StoreResult<MintingRead> {
        let key = match claims {
            ClaimsSource::Template(name) | ClaimsSource::Setting(name) => name,
        };
        let row = self
            .point_row(minting_sql(claims), &[&session_id, &key])
            .await?
            .ok_or_else(|| StoreError::Internal("the minting read returned no row".into()))?;
        let claims_at = SESSION_COLUMNS.split(", ").count() + 1;
        let present = |i: usize| row.get::<_, Option<&str>>(i).is_some();
        Ok(MintingRead {
            session: present(0).then(|| session_of(&row)).transpose()?,
            user: row
                .get::<_, Option<&str>>(claims_at - 1)
                .map(decode_user)
                .transpose()?,
            template: match claims {
                ClaimsSource::Template(_) if present(claims_at) => {
                    Some(template_at(&row, claims_at)?)
                }
                _ => None,
            },
            setting: match claims {
                ClaimsSource::Setting(_) => row.get(claims_at),
                ClaimsSource::Template(_) => None,
            },
        })
    }

    async fn get_session(&self, id: &str) -> StoreResult<Option<Session>> {
        let row = self
            .point_row(
                &format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1"),
                &[&id],
            )
            .await?;
        row.as_ref().map(session_of).transpose()
    }

    async fn list_sessions(&self, filter: &SessionFilter) -> StoreResult<(Vec<Session>, u64)> {
        if filter.holds_nul() {
            return Ok((Vec::new(), 0));
        }
        let (clause, params) = session_where(filter, |n| format!("${n}"));
        let params = boxed(params);
        let client = self.pool.get().await?;
        let total: i64 = client
            .query_one(
                &format!("SELECT COUNT(*) FROM sessions{clause}"),
                &refs(&params),
            )
            .await?
            .get(0);
        let rows = client
            .query(
                &format!(
                    "SELECT {SESSION_COLUMNS} FROM sessions{clause} ORDER BY created_at DESC, id DESC LIMIT {} OFFSET {}",
                    filter.limit, filter.offset
                ),
                &refs(&params),
            )
            .await?;
        let sessions = rows
            .iter()
            .map(session_of)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok((sessions, u64::try_from(total).unwrap_or(0)))
    }

    async fn set_session_status(
        &self,
        id: &str,
        status: SessionStatus,
        now: i64,
    ) -> StoreResult<Option<Session>> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                &format!("UPDATE sessions SET status = $2, updated_at = $3 WHERE id = $1 RETURNING {SESSION_COLUMNS}"),
                &[&id, &status.as_str(), &now],
            )
            .await?;
        row.as_ref().map(session_of).transpose()
    }

    async fn revoke_user_sessions(
        &self,
        user_id: &str,
        except: Option<&str>,
        now: i64,
    ) -> StoreResult<u64> {
        let client = self.pool.get().await?;
        Ok(client
            .execute(
                "UPDATE sessions SET status = 'revoked', updated_at = $2 \
                 WHERE user_id = $1 AND status = 'active' AND ($3::text IS NULL OR id <> $3)",
                &[&user_id, &now, &except],
            )
            .await?)
    }

    async fn insert_jwt_template(&self, template: JwtTemplate) -> StoreResult<JwtTemplate> {
        let client = self.pool.get().await?;
        let claims = serde_json::to_string(&template.claims).map_err(internal)?;
        client
            .execute(
                &format!("INSERT INTO jwt_templates ({TEMPLATE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"),
                &[
                    &template.id,
                    &template.name,
                    &claims,
                    &template.lifetime,
                    &template.allowed_clock_skew,
                    &template.created_at,
                    &template.updated_at,
                ],
            )
            .await
            .map_err(template_write)?;
        Ok(template)
    }

    async fn jwt_template(&self, id: &str) -> StoreResult<Option<JwtTemplate>> {
        let row = self
            .point_row(
                &format!("SELECT {TEMPLATE_COLUMNS} FROM jwt_templates WHERE id = $1"),
                &[&id],
            )
            .await?;
        row.as_ref().map(template_of).transpose()
    }

    async fn jwt_template_by_name(&self, name: &str) -> StoreResult<Option<JwtTemplate>> {
        let row = self
            .point_row(
                &format!("SELECT {TEMPLATE_COLUMNS} FROM jwt_templates WHERE name = $1"),
                &[&name],
            )
            .await?;
        row.as_ref().map(template_of).transpose()
    }

    async fn list_jwt_templates(
        &self,
        limit: u32,
        offset: u64,
    ) -> StoreResult<(Vec<JwtTemplate>, u64)> {
        let client = self.pool.get().await?;
        let total: i64 = client
            .query_one("SELECT COUNT(*) FROM jwt_templates", &[])
            .await?
            .get(0);
        let rows = client
            .query(
                &format!("SELECT {TEMPLATE_COLUMNS} FROM jwt_templates ORDER BY created_at DESC, id DESC LIMIT $1 OFFSET $2"),
                &[&i64::from(limit), &i64::try_from(offset).unwrap_or(i64::MAX)],
            )
            .await?;
        let templates = rows
            .iter()
            .map(template_of)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok((templates, u64::try_from(total).unwrap_or(0)))
    }

    async fn update_jwt_template(&self, template: JwtTemplate) -> StoreResult<Option<JwtTemplate>> {
        let client = self.pool.get().await?;
        let claims = serde_json::to_string(&template.claims).map_err(internal)?;
        let n = client
            .execute(
                "UPDATE jwt_templates SET name = $2, claims = $3, lifetime = $4, allowed_clock_skew = $5, updated_at = $6
                 WHERE id = $1",
                &[&template.id, &template.name, &claims, &template.lifetime, &template.allowed_clock_skew, &template.updated_at],
            )
            .await
            .map_err(template_write)?;
        Ok((n > 0).then_some(template))
    }

    async fn delete_jwt_template(&self, id: &str) -> StoreResult<bool> {
        let client = self.pool.get().await?;
        Ok(client
            .execute("DELETE FROM jwt_templates WHERE id = $1", &[&id])
            .await?
            > 0)
    }

    async fn get_client(&self, id: &str) -> StoreResult<Option<Client>> {
        let row = self
            .point_row("SELECT doc FROM clients WHERE id = $1", &[&id])
            .await?;
        row.map(|r| serde_json::from_str(r.get(0)).map_err(internal))
            .transpose()
    }

    async fn put_client(&self, c: &Client) -> StoreResult<()> {
        let doc = serde_json::to_string(c).map_err(internal)?;
        let client = self.pool.get().await?;
        client
            .execute(
                "INSERT INTO clients (id, doc, updated_at) VALUES ($1, $2, $3)
                 ON CONFLICT (id) DO UPDATE SET doc = excluded.doc, updated_at = excluded.updated_at",
                &[&c.id, &doc, &c.updated_at],
            )
            .await?;
        Ok(())
    }

    async fn ping(&self) -> StoreResult<()> {
        let client = self.pool.get().await?;
        client.query_one("SELECT 1", &[]).await?;
        Ok(())
    }

    async fn hit_rate_limit(&self, hit: &RateLimitHit) -> StoreResult<WindowCounts> {
        let client = self.pool.get().await?;
        // One statement: the upsert serialises concurrent hits on the row, and the previous
        // window's row is no longer written to (unless a process's clock lags by a window).
        let row = client
            .query_one(
                "WITH hit AS (
                    INSERT INTO rate_limit_hits (key, window_start, hits, expires_at)
                    VALUES ($1, $2, 1, $3)
                    ON CONFLICT (key, window_start)
                        DO UPDATE SET hits = rate_limit_hits.hits + 1
                    RETURNING hits
                 )
                 SELECT hit.hits,
                        COALESCE((SELECT p.hits FROM rate_limit_hits p
                                  WHERE p.key = $1 AND p.window_start = $4), 0)
                 FROM hit",
                &[
                    &hit.key,
                    &hit.window_start,
                    &hit.expires_at,
                    &hit.previous_window_start,
                ],
            )
            .await?;
        let counts = WindowCounts {
            current: row.get(0),
            previous: row.get(1),
        };
        if counts.current == 1 {
            // SKIP LOCKED: processes sweeping at once take different rows instead of waiting.
            client
                .execute(
                    "DELETE FROM rate_limit_hits WHERE ctid = ANY(ARRAY(
                        SELECT ctid FROM rate_limit_hits WHERE expires_at <= $1
                        LIMIT $2 FOR UPDATE SKIP LOCKED))",
                    &[&hit.now, &crate::RATE_LIMIT_SWEEP_BATCH],
                )
                .await?;
        }
        Ok(counts)
    }
}

/// Users as columns, for one multi-row insert.
#[derive(Default)]
struct BulkColumns {
    id: Vec<String>,
    created_at: Vec<i64>,
    updated_at: Vec<i64>,
    external_id: Vec<Option<String>>,
    username: Vec<Option<String>>,
    first_name: Vec<Option<String>>,
    last_name: Vec<Option<String>>,
    primary_email: Vec<Option<String>>,
    primary_phone: Vec<Option<String>>,
    banned: Vec<bool>,
    last_sign_in_at: Vec<Option<i64>>,
    last_active_at: Vec<Option<i64>>,
    search: Vec<String>,
    name_search: Vec<String>,
    doc: Vec<String>,
    identifier_kinds: Vec<&'static str>,
    identifier_values: Vec<String>,
    identifier_users: Vec<String>,
}

impl BulkColumns {
    fn push(&mut self, user: &User) -> StoreResult<()> {
        self.id.push(user.id.clone());
        self.created_at.push(user.created_at);
        self.updated_at.push(user.updated_at);
        self.external_id.push(user.external_id.clone());
        self.username.push(user.username.clone());
        self.first_name.push(user.first_name.clone());
        self.last_name.push(user.last_name.clone());
        self.primary_email
            .push(user.primary_email().map(str::to_owned));
        self.primary_phone
            .push(user.primary_phone().map(str::to_owned));
        self.banned.push(user.banned);
        self.last_sign_in_at.push(user.last_sign_in_at);
        self.last_active_at.push(user.last_active_at);
        self.search.push(search_text(user));
        self.name_search.push(name_text(user));
        self.doc
            .push(serde_json::to_string(user).map_err(internal)?);
        for e in &user.email_addresses {
            self.identifier_kinds.push("email_address");
            self.identifier_values.push(e.value.clone());
            self.identifier_users.push(user.id.clone());
        }
        for p in &user.phone_numbers {
            self.identifier_kinds.push("phone_number");
            self.identifier_values.push(p.value.clone());
            self.identifier_users.push(user.id.clone());
        }
        Ok(())
    }
}

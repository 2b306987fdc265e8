//! `/v1/users…`: the Backend API for users and their metadata.

use axum::extract::{RawQuery, State};
use axum::http::header::{ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde_json::Value;

use roster_domain::metadata::Metadata;
use roster_domain::query::{
    Cursor, IncludeExclude, Order, UserFilter, UserQuery, MAX_FILTER_VALUES, MAX_LIMIT,
};
use roster_domain::revision::{EntityTags, Revision};
use roster_domain::user::{NewUser, UserChanges};
use roster_domain::{ids, password, validate, DomainError, MetadataWrite, User};
use roster_proto::{DeletedObjectJson, TotalCountJson, UserJson, VerifiedJson};
use roster_store::UserEdit;

use super::{entity_tags, now_ms, user_not_found, IfMatch, UserId};
use crate::app::{ApiVersion, AppState, METADATA_ON_UPDATE_REJECTED_FROM};
use crate::body::{first_values, query_pairs, Fields, JsonObject};
use crate::error::{ApiError, ApiResult};
use crate::json::Json;

const MAX_NAME_BYTES: usize = 256;
const MAX_EXTERNAL_ID_BYTES: usize = 512;

const CREATE_PARAMS: &[&str] = &[
    "external_id",
    "first_name",
    "last_name",
    "locale",
    "timezone",
    "email_address",
    "phone_number",
    "web3_wallet",
    "username",
    "password",
    "password_digest",
    "password_hasher",
    "skip_password_checks",
    "skip_password_requirement",
    "totp_secret",
    "backup_codes",
    "public_metadata",
    "private_metadata",
    "unsafe_metadata",
    "delete_self_enabled",
    "create_organization_enabled",
    "create_organizations_limit",
    "legal_accepted_at",
    "skip_legal_checks",
    "skip_user_requirement",
    "created_at",
    "bypass_client_trust",
    "banned",
    "locked",
    "email_address_identification_status",
    "phone_number_identification_status",
];

const UPDATE_PARAMS: &[&str] = &[
    "external_id",
    "first_name",
    "last_name",
    "locale",
    "timezone",
    "primary_email_address_id",
    "primary_phone_number_id",
    "primary_web3_wallet_id",
    "notify_primary_email_address_changed",
    "username",
    "profile_image_id",
    "password",
    "password_digest",
    "password_hasher",
    "skip_password_checks",
    "sign_out_of_other_sessions",
    "totp_secret",
    "backup_codes",
    "public_metadata",
    "private_metadata",
    "unsafe_metadata",
    "delete_self_enabled",
    "create_organization_enabled",
    "create_organizations_limit",
    "legal_accepted_at",
    "skip_legal_checks",
    "created_at",
    "bypass_client_trust",
];

const METADATA_PARAMS: &[&str] = &["public_metadata", "private_metadata", "unsafe_metadata"];

/// A user as the Backend API answers it, with its revision as the `ETag`.
pub struct UserResponse {
    body: Json<UserJson<Metadata>>,
    revision: Revision,
}

impl IntoResponse for UserResponse {
    fn into_response(self) -> Response {
        with_etag(self.body.into_response(), self.revision)
    }
}

fn with_etag(mut resp: Response, revision: Revision) -> Response {
    if let Ok(etag) = HeaderValue::from_str(&revision.etag()) {
        resp.headers_mut().insert(ETAG, etag);
    }
    resp
}

fn render(state: &AppState, user: &User) -> UserResponse {
    UserResponse {
        body: Json(user.to_json(&state.render_context(now_ms()))),
        revision: Revision::of(user),
    }
}

/// A 422 naming a feature Roster does not have (`what` carries its verb: "Web3 wallets are").
pub(crate) fn unsupported(param: &str, what: &str) -> ApiError {
    DomainError::InvalidValue {
        param: param.to_owned(),
        reason: format!("{what} not supported by Roster."),
    }
    .into()
}

fn optional_text(param: &str, value: Option<String>, max: usize) -> ApiResult<Option<String>> {
    Ok(value.map(|v| validate::text(param, &v, max)).transpose()?)
}

/// Statuses for an identifier list: verified unless `reserved`, one per identifier.
fn identification_statuses(
    fields: &mut Fields,
    param: &str,
    values: Vec<String>,
    statuses_param: &str,
) -> ApiResult<Vec<(String, bool)>> {
    let statuses = fields.string_list(statuses_param, MAX_FILTER_VALUES)?;
    if !statuses.is_empty() && statuses.len() != values.len() {
        return Err(DomainError::ArrayLengthMismatch {
            param: statuses_param.to_owned(),
            other: param.to_owned(),
        }
        .into());
    }
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| match statuses.get(i).map(String::as_str) {
            None | Some("verified") => Ok((v, true)),
            Some("reserved") => Ok((v, false)),
            Some(other) => Err(DomainError::InvalidValue {
                param: statuses_param.to_owned(),
                reason: format!("{other} does not match one of the allowed values for parameter {statuses_param}"),
            }
            .into()),
        })
        .collect()
}

/// A password given in a request, not yet hashed.
enum PasswordInput {
    Plain(String),
    Digest(String),
}

fn password_input(fields: &mut Fields) -> ApiResult<Option<PasswordInput>> {
    let plain = fields.string("password")?;
    let digest = fields.string("password_digest")?;
    let hasher = fields.string("password_hasher")?;
    let skip_checks = fields.bool("skip_password_checks")?.unwrap_or(false);
    match (plain, digest, hasher) {
        (Some(_), Some(_), _) => Err(DomainError::InvalidValue {
            param: "password_digest".into(),
            reason: "password and password_digest cannot be given together.".into(),
        }
        .into()),
        (Some(p), None, _) => {
            password::check_policy(&p, skip_checks)?;
            Ok(Some(PasswordInput::Plain(p)))
        }
        (None, Some(d), Some(h)) => {
            password::check_digest(&h, &d)?;
            Ok(Some(PasswordInput::Digest(password::stored_digest(&h, &d))))
        }
        (None, Some(_), None) => Err(DomainError::MissingParam {
            param: "password_hasher".into(),
        }
        .into()),
        (None, None, _) => Ok(None),
    }
}

/// Hashes a plain password on a blocking worker (Argon2id is deliberately slow).
async fn digest_of(input: Option<PasswordInput>) -> ApiResult<Option<String>> {
    match input {
        None => Ok(None),
        Some(PasswordInput::Digest(d)) => Ok(Some(d)),
        Some(PasswordInput::Plain(p)) => tokio::task::spawn_blocking(move || password::hash(&p))
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?
            .map(Some)
            .map_err(|e| ApiError::Internal(e.to_string())),
    }
}

fn reject_unsupported(fields: &mut Fields) -> ApiResult<()> {
    if !fields
        .string_list("web3_wallet", MAX_FILTER_VALUES)?
        .is_empty()
    {
        return Err(unsupported("web3_wallet", "Web3 wallets are"));
    }
    if fields.string("totp_secret")?.is_some() {
        return Err(unsupported("totp_secret", "TOTP is"));
    }
    if !fields
        .string_list("backup_codes", MAX_FILTER_VALUES)?
        .is_empty()
    {
        return Err(unsupported("backup_codes", "Backup codes are"));
    }
    Ok(())
}

fn parse_new_user(
    map: serde_json::Map<String, Value>,
) -> ApiResult<(NewUser, Option<PasswordInput>)> {
    let mut f = Fields::new(map, CREATE_PARAMS)?;
    reject_unsupported(&mut f)?;
    let emails = f
        .string_list("email_address", MAX_FILTER_VALUES)?
        .iter()
        .map(|e| validate::email(e))
        .collect::<Result<Vec<_>, _>>()?;
    let phones = f
        .string_list("phone_number", MAX_FILTER_VALUES)?
        .iter()
        .map(|p| validate::phone(p))
        .collect::<Result<Vec<_>, _>>()?;
    let email_addresses = identification_statuses(
        &mut f,
        "email_address",
        emails,
        "email_address_identification_status",
    )?;
    let phone_numbers = identification_statuses(
        &mut f,
        "phone_number",
        phones,
        "phone_number_identification_status",
    )?;
    for (param, list) in [
        ("email_address", &email_addresses),
        ("phone_number", &phone_numbers),
    ] {
        let mut seen = std::collections::HashSet::new();
        if !list.iter().all(|(v, _)| seen.insert(v)) {
            return Err(DomainError::InvalidValue {
                param: param.into(),
                reason: format!("{param} contains the same value twice."),
            }
            .into());
        }
    }
    let password = password_input(&mut f)?;
    for flag in [
        "skip_password_requirement",
        "skip_legal_checks",
        "skip_user_requirement",
    ] {
        f.bool(flag)?;
    }
    let new = NewUser {
        external_id: optional_text(
            "external_id",
            f.string("external_id")?,
            MAX_EXTERNAL_ID_BYTES,
        )?,
        username: f
            .string("username")?
            .map(|u| validate::username(&u))
            .transpose()?,
        first_name: optional_text("first_name", f.string("first_name")?, MAX_NAME_BYTES)?,
        last_name: optional_text("last_name", f.string("last_name")?, MAX_NAME_BYTES)?,
        locale: f
            .string("locale")?
            .map(|l| validate::locale(&l))
            .transpose()?,
        timezone: f
            .string("timezone")?
            .map(|t| validate::timezone(&t))
            .transpose()?,
        email_addresses,
        phone_numbers,
        password_digest: None,
        metadata: f.metadata_write()?,
        banned: f.bool("banned")?.unwrap_or(false),
        locked: f.bool("locked")?.unwrap_or(false),
        delete_self_enabled: f.bool("delete_self_enabled")?,
        create_organization_enabled: f.bool("create_organization_enabled")?,
        create_organizations_limit: f.nullable_int("create_organizations_limit")?.flatten(),
        bypass_client_trust: f.bool("bypass_client_trust")?,
        legal_accepted_at: f
            .string("legal_accepted_at")?
            .map(|t| validate::rfc3339_ms("legal_accepted_at", &t))
            .transpose()?,
        created_at: f
            .string("created_at")?
            .map(|t| validate::rfc3339_ms("created_at", &t))
            .transpose()?,
    };
    Ok((new, password))
}

/// `POST /v1/users`
pub async fn create(
    State(state): State<AppState>,
    JsonObject(body): JsonObject,
) -> ApiResult<UserResponse> {
    let (mut new, password) = parse_new_user(body)?;
    new.password_digest = digest_of(password).await?;
    let now = now_ms();
    let user = User::create(new, now, |prefix| ids::new_id(prefix, now))?;
    let user = state.store.insert_user(user).await?;
    Ok(render(&state, &user))
}

fn parse_int(param: &str, raw: &str) -> ApiResult<i64> {
    raw.parse().map_err(|_| {
        DomainError::InvalidValue {
            param: param.to_owned(),
            reason: format!("{param} must be an integer."),
        }
        .into()
    })
}

fn parse_time(param: &str, raw: &str) -> ApiResult<i64> {
    raw.parse().map_err(|_| {
        DomainError::InvalidDate {
            param: param.to_owned(),
        }
        .into()
    })
}

fn parse_bool(param: &str, raw: &str) -> ApiResult<bool> {
    match raw {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(DomainError::InvalidValue {
            param: param.to_owned(),
            reason: format!("{param} must be true or false."),
        }
        .into()),
    }
}

/// The list filters of `GET /users`, which take many values (`user_id=a&user_id=b`).
const LIST_FILTERS: &[&str] = &[
    "email_address",
    "phone_number",
    "username",
    "external_id",
    "user_id",
    "web3_wallet",
    "organization_id",
    "provider_user_id",
];

/// Parses the list/count query string, with the list's `starting_after` cursor (a user id) on
/// the side: the store needs that user's position, which the route looks up. Unknown parameters
/// are ignored (clients add their own).
fn parse_user_query(raw: Option<&str>, paging: bool) -> ApiResult<(UserQuery, Option<String>)> {
    let mut q = UserQuery::default();
    let mut starting_after = None;
    let mut provider = None;
    let mut lists: std::collections::HashMap<&'static str, Vec<String>> = Default::default();
    let f: &mut UserFilter = &mut q.filter;
    for (key, value) in first_values(query_pairs(raw)?, LIST_FILTERS) {
        if let Some(k) = LIST_FILTERS.iter().find(|k| **k == key) {
            lists.entry(k).or_default().push(value);
            continue;
        }
        let nonempty = || (!value.is_empty()).then(|| value.clone());
        match key.as_str() {
            "query" => f.query = nonempty(),
            "email_address_query" => f.email_address_query = nonempty(),
            "phone_number_query" => f.phone_number_query = nonempty(),
            "username_query" => f.username_query = nonempty(),
            "name_query" => f.name_query = nonempty(),
            "banned" => f.banned = Some(parse_bool("banned", &value)?),
            "created_at_before" => f.created_at.before = Some(parse_time(&key, &value)?),
            "created_at_after" => f.created_at.after = Some(parse_time(&key, &value)?),
            "last_active_at_before" => f.last_active_at.before = Some(parse_time(&key, &value)?),
            "last_active_at_after" | "last_active_at_since" => {
                f.last_active_at.after = Some(parse_time(&key, &value)?)
            }
            "last_sign_in_at_before" => f.last_sign_in_at.before = Some(parse_time(&key, &value)?),
            "last_sign_in_at_after" => f.last_sign_in_at.after = Some(parse_time(&key, &value)?),
            "provider" => provider = nonempty(),
            "starting_after" if paging => starting_after = nonempty(),
            "limit" if paging => {
                let limit = parse_int("limit", &value)?;
                if !(1..=i64::from(MAX_LIMIT)).contains(&limit) {
                    return Err(DomainError::InvalidValue {
                        param: "limit".into(),
                        reason: format!("limit must be between 1 and {MAX_LIMIT}."),
                    }
                    .into());
                }
                q.limit = limit as u32;
            }
            "offset" if paging => {
                let offset = parse_int("offset", &value)?;
                q.offset = u64::try_from(offset).map_err(|_| DomainError::InvalidValue {
                    param: "offset".into(),
                    reason: "offset must be 0 or more.".into(),
                })?;
            }
            "order_by" if paging => {
                q.order = Order::parse(&value)?;
            }
            _ => {}
        }
    }
    // OAuth accounts are named by both: a provider alone, or ids without one, name nothing.
    match (&provider, lists.contains_key("provider_user_id")) {
        (Some(_), false) => return Err(missing("provider_user_id")),
        (None, true) => return Err(missing("provider")),
        _ => {}
    }
    for (key, values) in lists {
        if values.len() > MAX_FILTER_VALUES {
            return Err(DomainError::TooManyItems {
                param: key.to_owned(),
                max: MAX_FILTER_VALUES,
            }
            .into());
        }
        match key {
            "email_address" => f.email_addresses = values,
            // Written as at creation (`+1 (555) 010-0042`), a number finds its user.
            "phone_number" => {
                f.phone_numbers = values.iter().map(|v| validate::phone_compact(v)).collect()
            }
            "username" => f.usernames = values,
            "external_id" => f.external_ids = IncludeExclude::from_values(&values),
            "user_id" => f.user_ids = IncludeExclude::from_values(&values),
            // Roster has no organizations: no user is in one, so excluding members excludes
            // nobody, and asking for members matches nobody.
            "organization_id" => {
                if !IncludeExclude::from_values(&values).include.is_empty() {
                    f.matches_nothing = true;
                }
            }
            // Nor web3 wallets or OAuth accounts: asking for users with one matches nobody.
            _ => f.matches_nothing = true,
        }
    }
    q.check_cursor(starting_after.is_some())?;
    Ok((q, starting_after))
}

fn missing(param: &str) -> ApiError {
    DomainError::MissingParam {
        param: param.to_owned(),
    }
    .into()
}

/// The position of the `starting_after` user, which must exist: a cursor that names no user
/// cannot say where the page starts, and an empty page would end the caller's walk silently.
async fn cursor(state: &AppState, id: &str) -> ApiResult<Cursor> {
    let user = if ids::has_shape(id, "user") {
        state.store.get_user(id).await?
    } else {
        None
    };
    let user = user.ok_or_else(|| DomainError::InvalidValue {
        param: "starting_after".into(),
        reason: format!("starting_after must be the id of a user; there is no user {id}."),
    })?;
    Ok(Cursor {
        created_at: user.created_at,
        id: user.id,
    })
}

/// `GET /v1/users`: a bare array.
pub async fn list(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Vec<UserJson<Metadata>>>> {
    let (mut query, starting_after) = parse_user_query(raw.as_deref(), true)?;
    if let Some(id) = starting_after {
        query.after = Some(cursor(&state, &id).await?);
    }
    let users = state.store.list_users(&query).await?;
    let ctx = state.render_context(now_ms());
    Ok(Json(users.iter().map(|u| u.to_json(&ctx)).collect()))
}

/// `GET /v1/users/count`
pub async fn count(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<TotalCountJson>> {
    let (query, _) = parse_user_query(raw.as_deref(), false)?;
    Ok(Json(TotalCountJson::new(
        state.store.count_users(&query.filter).await?,
    )))
}

/// `GET /v1/users/{user_id}`; with `If-None-Match` naming its revision, a bodiless 304, unless
/// the user has a lock: `locked`, `lockout_expires_in_seconds` and
/// `verification_attempts_remaining` are then read off the clock, and a cached body would go
/// stale while the revision stands still.
pub async fn get(
    State(state): State<AppState>,
    UserId(id): UserId,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let user = state
        .store
        .get_user(&id)
        .await?
        .ok_or_else(|| user_not_found(&id))?;
    let response = render(&state, &user);
    let revision = response.revision;
    let cached = entity_tags(&headers, IF_NONE_MATCH).is_some_and(|t| t.matches_weakly(revision));
    if cached && user.locked_until.is_none() {
        return Ok(with_etag(
            StatusCode::NOT_MODIFIED.into_response(),
            revision,
        ));
    }
    Ok(response.into_response())
}

/// Runs `edit` on the stored user atomically and renders the result. With an `If-Match`
/// precondition, the edit first checks the user it runs on, inside the store's transaction.
async fn edit_user(
    state: &AppState,
    id: &str,
    edit: UserEdit,
    precondition: Option<EntityTags>,
) -> ApiResult<UserResponse> {
    let edit = match precondition {
        None => edit,
        Some(tags) => roster_store::user_edit(move |u| {
            tags.require(u)?;
            edit(u)
        }),
    };
    let user = state
        .store
        .update_user(id, edit)
        .await?
        .ok_or_else(|| user_not_found(id))?;
    Ok(render(state, &user))
}

/// The changes of `PATCH /v1/users/{id}`, the new password if any, and whether to sign the user
/// out everywhere once it is set (`sign_out_of_other_sessions`, which needs a new password).
fn parse_changes(
    map: serde_json::Map<String, Value>,
    version: &ApiVersion,
) -> ApiResult<(UserChanges, Option<PasswordInput>, bool)> {
    let mut f = Fields::new(map, UPDATE_PARAMS)?;
    if version.at_least(METADATA_ON_UPDATE_REJECTED_FROM) {
        if let Some(param) = METADATA_PARAMS.iter().find(|p| f.contains(p)) {
            return Err(DomainError::RejectedForVersion {
                param: (*param).to_owned(),
                version: version.0.clone().unwrap_or_default(),
                instead: "PATCH or PUT /v1/users/{user_id}/metadata",
            }
            .into());
        }
    }
    reject_unsupported(&mut f)?;
    if f.string("primary_web3_wallet_id")?.is_some() {
        return Err(unsupported("primary_web3_wallet_id", "Web3 wallets are"));
    }
    if f.string("profile_image_id")?.is_some() {
        return Err(unsupported("profile_image_id", "Profile images are"));
    }
    f.bool("notify_primary_email_address_changed")?;
    let sign_out = f.bool("sign_out_of_other_sessions")?.unwrap_or(false);
    f.bool("skip_legal_checks")?;
    let password = password_input(&mut f)?;
    if sign_out && password.is_none() {
        return Err(DomainError::InvalidValue {
            param: "sign_out_of_other_sessions".into(),
            reason: "sign_out_of_other_sessions can only be used when providing a password.".into(),
        }
        .into());
    }
    let text =
        |param: &str, v: Option<Option<String>>, max: usize| -> ApiResult<Option<Option<String>>> {
            Ok(match v {
                Some(Some(s)) => Some(Some(validate::text(param, &s, max)?)),
                other => other,
            })
        };
    let changes = UserChanges {
        external_id: text(
            "external_id",
            f.nullable_string("external_id")?,
            MAX_EXTERNAL_ID_BYTES,
        )?,
        // null or "" removes the username.
        username: match f.nullable_string("username")? {
            Some(Some(u)) if !u.is_empty() => Some(Some(validate::username(&u)?)),
            Some(_) => Some(None),
            None => None,
        },
        first_name: text(
            "first_name",
            f.nullable_string("first_name")?,
            MAX_NAME_BYTES,
        )?,
        last_name: text("last_name", f.nullable_string("last_name")?, MAX_NAME_BYTES)?,
        locale: match f.nullable_string("locale")? {
            Some(Some(l)) => Some(Some(validate::locale(&l)?)),
            other => other,
        },
        timezone: match f.nullable_string("timezone")? {
            Some(Some(t)) => Some(Some(validate::timezone(&t)?)),
            other => other,
        },
        primary_email_address_id: f.string("primary_email_address_id")?,
        primary_phone_number_id: f.string("primary_phone_number_id")?,
        password_digest: None,
        metadata: f.metadata_write()?,
        delete_self_enabled: f.bool("delete_self_enabled")?,
        create_organization_enabled: f.bool("create_organization_enabled")?,
        create_organizations_limit: f.nullable_int("create_organizations_limit")?,
        bypass_client_trust: f.bool("bypass_client_trust")?,
        legal_accepted_at: match f.nullable_string("legal_accepted_at")? {
            Some(Some(t)) => Some(Some(validate::rfc3339_ms("legal_accepted_at", &t)?)),
            Some(None) => Some(None),
            None => None,
        },
        created_at: f
            .string("created_at")?
            .map(|t| validate::rfc3339_ms("created_at", &t))
            .transpose()?,
    };
    Ok((changes, password, sign_out))
}

/// `PATCH /v1/users/{user_id}`. Metadata here replaces (legacy) before API version 2026-05-12
/// and is rejected from it on.
pub async fn update(
    State(state): State<AppState>,
    Extension(version): Extension<ApiVersion>,
    UserId(id): UserId,
    IfMatch(precondition): IfMatch,
    JsonObject(body): JsonObject,
) -> ApiResult<UserResponse> {
    let (mut changes, password, sign_out) = parse_changes(body, &version)?;
    changes.password_digest = digest_of(password).await?;
    let now = now_ms();
    let updated = edit_user(
        &state,
        &id,
        roster_store::user_edit(move |u| u.apply_changes(changes.clone(), now)),
        precondition,
    )
    .await?;
    // The Backend API has no current session: "other" sessions are all of them.
    if sign_out {
        state.store.revoke_user_sessions(&id, None, now).await?;
    }
    Ok(updated)
}

fn metadata_body(body: serde_json::Map<String, Value>) -> ApiResult<MetadataWrite> {
    Fields::new(body, METADATA_PARAMS)?.metadata_write()
}

/// `PATCH /v1/users/{user_id}/metadata`: deep merge.
pub async fn merge_metadata(
    State(state): State<AppState>,
    UserId(id): UserId,
    IfMatch(precondition): IfMatch,
    JsonObject(body): JsonObject,
) -> ApiResult<UserResponse> {
    let write = metadata_body(body)?;
    let now = now_ms();
    edit_user(
        &state,
        &id,
        roster_store::user_edit(move |u| u.merge_metadata(&write, now)),
        precondition,
    )
    .await
}

/// `PUT /v1/users/{user_id}/metadata`: replace the tiers sent.
pub async fn replace_metadata(
    State(state): State<AppState>,
    UserId(id): UserId,
    IfMatch(precondition): IfMatch,
    JsonObject(body): JsonObject,
) -> ApiResult<UserResponse> {
    let write = metadata_body(body)?;
    let now = now_ms();
    edit_user(
        &state,
        &id,
        roster_store::user_edit(move |u| u.replace_metadata(&write, now)),
        precondition,
    )
    .await
}

/// `DELETE /v1/users/{user_id}`
pub async fn delete(
    State(state): State<AppState>,
    UserId(id): UserId,
) -> ApiResult<Json<DeletedObjectJson>> {
    if !state.store.delete_user(&id).await? {
        return Err(user_not_found(&id));
    }
    state
        .store
        .revoke_user_sessions(&id, None, now_ms())
        .await?;
    Ok(Json(DeletedObjectJson {
        object: "user".into(),
        id,
        deleted: true,
    }))
}

fn no_body(body: serde_json::Map<String, Value>) -> ApiResult<()> {
    Fields::new(body, &[]).map(|_| ())
}

/// A body-less state change (ban, unban, lock, unlock) applied atomically.
async fn set_state(
    state: &AppState,
    id: &str,
    body: serde_json::Map<String, Value>,
    change: fn(&mut User, i64),
    precondition: Option<EntityTags>,
) -> ApiResult<UserResponse> {
    no_body(body)?;
    let now = now_ms();
    edit_user(
        state,
        id,
        roster_store::user_edit(move |u| {
            change(u, now);
            Ok(())
        }),
        precondition,
    )
    .await
}

/// `POST /v1/users/{user_id}/ban`
pub async fn ban(
    State(s): State<AppState>,
    UserId(id): UserId,
    IfMatch(precondition): IfMatch,
    JsonObject(b): JsonObject,
) -> ApiResult<UserResponse> {
    let user = set_state(&s, &id, b, |u, now| u.set_banned(true, now), precondition).await?;
    s.store.revoke_user_sessions(&id, None, now_ms()).await?;
    Ok(user)
}

/// `POST /v1/users/{user_id}/unban`
pub async fn unban(
    State(s): State<AppState>,
    UserId(id): UserId,
    IfMatch(precondition): IfMatch,
    JsonObject(b): JsonObject,
) -> ApiResult<UserResponse> {
    set_state(&s, &id, b, |u, now| u.set_banned(false, now), precondition).await
}

/// `POST /v1/users/{user_id}/lock`
pub async fn lock(
    State(s): State<AppState>,
    UserId(id): UserId,
    IfMatch(precondition): IfMatch,
    JsonObject(b): JsonObject,
) -> ApiResult<UserResponse> {
    set_state(&s, &id, b, User::lock, precondition).await
}

/// `POST /v1/users/{user_id}/unlock`
pub async fn unlock(
    State(s): State<AppState>,
    UserId(id): UserId,
    IfMatch(precondition): IfMatch,
    JsonObject(b): JsonObject,
) -> ApiResult<UserResponse> {
    set_state(&s, &id, b, User::unlock, precondition).await
}

const MAX_BULK_BAN: usize = 50;

async fn set_banned_many(
    state: &AppState,
    body: serde_json::Map<String, Value>,
    banned: bool,
) -> ApiResult<Json<Vec<UserJson<Metadata>>>> {
    let mut f = Fields::new(body, &["user_ids"])?;
    let ids = f.string_list("user_ids", MAX_BULK_BAN)?;
    if ids.is_empty() {
        return Err(DomainError::MissingParam {
            param: "user_ids".into(),
        }
        .into());
    }
    let mut out = Vec::with_capacity(ids.len());
    for id in ids.iter().filter(|id| ids::has_shape(id, "user")) {
        let now = now_ms();
        if let Some(user) = state
            .store
            .update_user(
                id,
                roster_store::user_edit(move |u| {
                    u.set_banned(banned, now);
                    Ok(())
                }),
            )
            .await?
        {
            if banned {
                state.store.revoke_user_sessions(id, None, now).await?;
            }
            out.push(user.to_json(&state.render_context(now)));
        }
    }
    Ok(Json(out))
}

/// `POST /v1/users/ban`: bans up to 50 users; unknown ids are skipped.
pub async fn ban_many(
    State(s): State<AppState>,
    JsonObject(b): JsonObject,
) -> ApiResult<Json<Vec<UserJson<Metadata>>>> {
    set_banned_many(&s, b, true).await
}

/// `POST /v1/users/unban`
pub async fn unban_many(
    State(s): State<AppState>,
    JsonObject(b): JsonObject,
) -> ApiResult<Json<Vec<UserJson<Metadata>>>> {
    set_banned_many(&s, b, false).await
}

/// `POST /v1/users/{user_id}/verify_password`
pub async fn verify_password(
    State(state): State<AppState>,
    UserId(id): UserId,
    JsonObject(body): JsonObject,
) -> ApiResult<Json<VerifiedJson>> {
    let mut f = Fields::new(body, &["password"])?;
    let candidate = f
        .string("password")?
        .ok_or_else(|| DomainError::MissingParam {
            param: "password".into(),
        })?;
    let user = state
        .store
        .get_user(&id)
        .await?
        .ok_or_else(|| user_not_found(&id))?;
    let digest = user.password_digest.ok_or(ApiError::PasswordNotSet)?;
    let verified = tokio::task::spawn_blocking(move || password::verify(&candidate, &digest))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    if verified {
        Ok(Json(VerifiedJson { verified: true }))
    } else {
        Err(ApiError::PasswordIncorrect)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parsing() -> ApiResult<()> {
        let (q, after) = parse_user_query(
            Some("email_address=a%40x.com&email_address=b%40x.com&limit=20&offset=5&order_by=-username&order_by=created_at&banned=true&user_id=-user_x"),
            true,
        )?;
        assert_eq!(after, None);
        assert_eq!(q.filter.email_addresses.len(), 2);
        assert_eq!(q.limit, 20);
        assert_eq!(q.offset, 5);
        assert_eq!(q.order, Order::parse("-username")?);
        assert_eq!(q.filter.banned, Some(true));
        assert_eq!(q.filter.user_ids.exclude, vec!["user_x"]);
        Ok(())
    }

    #[test]
    fn query_limits() {
        assert!(parse_user_query(Some("limit=0"), true).is_err());
        assert!(parse_user_query(Some("limit=501"), true).is_err());
        assert!(parse_user_query(Some("offset=-1"), true).is_err());
        assert!(parse_user_query(Some("created_at_after=yesterday"), true).is_err());
        let many: Vec<String> = (0..101).map(|i| format!("user_id=user_{i}")).collect();
        assert!(parse_user_query(Some(&many.join("&")), true).is_err());
    }

    #[test]
    fn cursor_parsing() -> ApiResult<()> {
        let (q, after) = parse_user_query(Some("starting_after=user_a&limit=3"), true)?;
        assert_eq!(
            (after.as_deref(), q.limit, q.offset),
            (Some("user_a"), 3, 0)
        );
        let (_, after) =
            parse_user_query(Some("starting_after=user_a&order_by=%2Bcreated_at"), true)?;
        assert_eq!(after.as_deref(), Some("user_a"));
        // Whichever comes first in the query string, the other ordering or an offset is refused.
        for raw in [
            "starting_after=user_a&order_by=username",
            "order_by=-updated_at&starting_after=user_a",
            "offset=1&starting_after=user_a",
        ] {
            assert!(parse_user_query(Some(raw), true).is_err(), "{raw}");
        }
        // The count takes the list's filters, not its paging.
        let (_, after) = parse_user_query(Some("starting_after=user_a&order_by=username"), false)?;
        assert_eq!(after, None);
        Ok(())
    }

    #[test]
    fn filters_on_what_roster_does_not_have() -> ApiResult<()> {
        let (q, _) = parse_user_query(Some("organization_id=-org_a&organization_id=-org_b"), true)?;
        assert!(
            !q.filter.matches_nothing,
            "excluding members of an org excludes nobody"
        );
        for raw in [
            "organization_id=org_a",
            "organization_id=%2Borg_a&organization_id=-org_b",
            "web3_wallet=0xabc",
            "provider=oauth_google&provider_user_id=1",
        ] {
            assert!(
                parse_user_query(Some(raw), true)?.0.filter.matches_nothing,
                "{raw}"
            );
        }
        assert!(parse_user_query(Some("provider=oauth_google"), true).is_err());
        assert!(parse_user_query(Some("provider_user_id=1"), false).is_err());
        Ok(())
    }
}

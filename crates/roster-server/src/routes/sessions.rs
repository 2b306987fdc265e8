//! `/v1/sessions…`, `/v1/jwks`, `/v1/jwt_templates…` and `/v1/instance/session_token_claims`:
//! sessions and the RS256 tokens that carry metadata.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use roster_domain::claims::{self, ClaimsSubject, TokenTimes};
use roster_domain::session::{
    JwtTemplate, Session, SessionStatus, MAX_CLOCK_SKEW_S, MAX_TOKEN_LIFETIME_S,
    MIN_TOKEN_LIFETIME_S, SESSION_TOKEN_LIFETIME_S,
};
use roster_domain::{ids, DomainError, User};
use roster_proto::{
    DeletedObjectJson, JwksJson, JwtTemplateJson, PageJson, SessionJson, SessionTokenClaimsJson,
    TokenJson,
};
use roster_store::{ClaimsSource, MintingRead, SessionFilter};

use super::{now_ms, user_not_found};
use crate::app::AppState;
use crate::body::{first_values, query_pairs, Fields, JsonObject};
use crate::error::{ApiError, ApiResult};
use crate::json::Json;
use crate::routes::PathIds;
use crate::signing::TokenCategory;

/// Cookies hold at most 4 KB; a larger token still works as a header but not as `__session`.
pub const COOKIE_BUDGET_BYTES: usize = 4096;
const SESSION_CLAIMS_SETTING: &str = "session_token_claims";
const DEFAULT_TEMPLATE_LIFETIME_S: i64 = 60;
/// A template's `allowed_clock_skew` unless it says otherwise.
const DEFAULT_CLOCK_SKEW_S: i64 = 5;
/// Session tokens are valid from this long before they are issued (`nbf = iat - 10`), as Clerk's.
const SESSION_TOKEN_NBF_SKEW_S: i64 = 10;

fn session_not_found(id: &str) -> ApiError {
    let shown: String = id.chars().take(64).collect();
    ApiError::NotFound(format!("No session was found with id {shown}"))
}

fn checked_id(id: &str, prefix: &str, not_found: fn(&str) -> ApiError) -> ApiResult<()> {
    if ids::has_shape(id, prefix) {
        Ok(())
    } else {
        Err(not_found(id))
    }
}

/// Parses `limit`, `offset` and `paginated` (lists of sessions and templates).
struct Paging {
    limit: u32,
    offset: u64,
    paginated: bool,
}

fn paging(pairs: &[(String, String)]) -> ApiResult<Paging> {
    let mut p = Paging {
        limit: 10,
        offset: 0,
        paginated: false,
    };
    for (k, v) in pairs {
        let invalid = |reason: &str| DomainError::InvalidValue {
            param: k.clone(),
            reason: reason.into(),
        };
        match k.as_str() {
            "limit" => {
                p.limit = v
                    .parse()
                    .ok()
                    .filter(|l| (1..=500).contains(l))
                    .ok_or_else(|| invalid("limit must be between 1 and 500."))?
            }
            "offset" => {
                p.offset = v
                    .parse()
                    .map_err(|_| invalid("offset must be 0 or more."))?
            }
            "paginated" => p.paginated = v == "true",
            _ => {}
        }
    }
    Ok(p)
}

/// A bare array, or `{data, total_count}` when `paginated=true` (as the JS SDK asks).
fn list_response<T: serde::Serialize>(items: Vec<T>, total: u64, paginated: bool) -> Response {
    if paginated {
        Json(PageJson {
            data: items,
            total_count: total,
        })
        .into_response()
    } else {
        Json(items).into_response()
    }
}

/// `GET /v1/jwks`
pub async fn jwks(State(state): State<AppState>) -> ApiResult<Json<JwksJson>> {
    Ok(Json(state.signer.jwks(now_ms() / 1000).await?))
}

/// `POST /v1/sessions`: a session for a user, as a testing and server-side convenience.
pub async fn create(
    State(state): State<AppState>,
    JsonObject(body): JsonObject,
) -> ApiResult<Json<SessionJson>> {
    let mut f = Fields::new(body, &["user_id", "active_organization_id"])?;
    let user_id = f
        .string("user_id")?
        .ok_or_else(|| DomainError::MissingParam {
            param: "user_id".into(),
        })?;
    if f.string("active_organization_id")?.is_some() {
        return Err(DomainError::InvalidValue {
            param: "active_organization_id".into(),
            reason: "Organizations are not supported by Roster.".into(),
        }
        .into());
    }
    if !ids::has_shape(&user_id, "user") {
        return Err(user_not_found(&user_id));
    }
    let user = state
        .store
        .get_user(&user_id)
        .await?
        .ok_or_else(|| user_not_found(&user_id))?;
    let now = now_ms();
    if user.banned || user.is_locked(now) {
        return Err(ApiError::UserCannotSignIn(if user.banned {
            "banned"
        } else {
            "locked"
        }));
    }
    let session = Session::new(
        ids::new_id("sess", now),
        user.id,
        ids::new_id("client", now),
        now,
    );
    let session = state.store.insert_session(session).await?;
    Ok(Json(session.to_json(now)))
}

/// `GET /v1/sessions`
pub async fn list(State(state): State<AppState>, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    let pairs = first_values(query_pairs(raw.as_deref())?, &[]);
    let page = paging(&pairs)?;
    let now = now_ms();
    let mut filter = SessionFilter {
        now,
        limit: page.limit,
        offset: page.offset,
        ..SessionFilter::default()
    };
    for (k, v) in &pairs {
        match k.as_str() {
            "user_id" => filter.user_id = Some(v.clone()),
            "client_id" => filter.client_id = Some(v.clone()),
            "status" => {
                filter.status =
                    Some(
                        SessionStatus::parse(v).ok_or_else(|| DomainError::InvalidValue {
                            param: "status".into(),
                            reason: format!(
                                "{v} does not match one of the allowed values for parameter status"
                            ),
                        })?,
                    )
            }
            _ => {}
        }
    }
    let (sessions, total) = state.store.list_sessions(&filter).await?;
    let items: Vec<SessionJson> = sessions.iter().map(|s| s.to_json(now)).collect();
    Ok(list_response(items, total, page.paginated))
}

/// `GET /v1/sessions/{session_id}`
pub async fn get(
    State(state): State<AppState>,
    PathIds(id): PathIds<String>,
) -> ApiResult<Json<SessionJson>> {
    checked_id(&id, "sess", session_not_found)?;
    let session = state
        .store
        .get_session(&id)
        .await?
        .ok_or_else(|| session_not_found(&id))?;
    Ok(Json(session.to_json(now_ms())))
}

/// `POST /v1/sessions/{session_id}/verify`: removed by Clerk (410 `operation_deprecated`), kept
/// as a route so the SDKs that still call it (`verifySession`, clerk-rs `verify_session`) get
/// Clerk's answer rather than an unrouted 404.
pub async fn verify() -> ApiError {
    ApiError::Deprecated {
        instead: "Verify session tokens without a network call instead, as every recent Clerk SDK \
                  does (verifyToken, authenticateRequest).",
    }
}

/// `POST /v1/sessions/{session_id}/revoke`
pub async fn revoke(
    State(state): State<AppState>,
    PathIds(id): PathIds<String>,
) -> ApiResult<Json<SessionJson>> {
    checked_id(&id, "sess", session_not_found)?;
    let now = now_ms();
    let session = state
        .store
        .set_session_status(&id, SessionStatus::Revoked, now)
        .await?
        .ok_or_else(|| session_not_found(&id))?;
    Ok(Json(session.to_json(now)))
}

fn expires_in(body: Map<String, Value>) -> ApiResult<Option<i64>> {
    let mut f = Fields::new(body, &["expires_in_seconds"])?;
    let Some(seconds) = f.nullable_int("expires_in_seconds")?.flatten() else {
        return Ok(None);
    };
    if !(MIN_TOKEN_LIFETIME_S..=MAX_TOKEN_LIFETIME_S).contains(&seconds) {
        return Err(DomainError::InvalidValue {
            param: "expires_in_seconds".into(),
            reason: format!("expires_in_seconds must be between {MIN_TOKEN_LIFETIME_S} and {MAX_TOKEN_LIFETIME_S}."),
        }
        .into());
    }
    Ok(Some(seconds))
}

/// What minting a token for session `id` reads, together (see `Store::minting_read`). A malformed
/// id names no session, so only the claims are read for it.
async fn minting_read(
    state: &AppState,
    id: &str,
    claims: ClaimsSource<'_>,
) -> ApiResult<MintingRead> {
    if checked_id(id, "sess", session_not_found).is_ok() {
        return Ok(state.store.minting_read(id, claims).await?);
    }
    let mut read = MintingRead::default();
    if let ClaimsSource::Template(name) = claims {
        read.template = state.store.jwt_template_by_name(name).await?;
    }
    Ok(read)
}

/// The session of a [`MintingRead`] and what its claims may read about the user, when the
/// session may mint now and its user may sign in.
fn minting_subject(
    state: &AppState,
    id: &str,
    read: MintingRead,
    now: i64,
) -> ApiResult<(Session, ClaimsSubject)> {
    let session = read.session.ok_or_else(|| session_not_found(id))?;
    if !session.can_mint(now) {
        return Err(ApiError::SessionNotActive {
            id: session.id.clone(),
            status: session.status_at(now).as_str(),
        });
    }
    let user = read.user.ok_or_else(|| user_not_found(&session.user_id))?;
    if user.banned || user.is_locked(now) {
        return Err(ApiError::UserCannotSignIn(if user.banned {
            "banned"
        } else {
            "locked"
        }));
    }
    note_activity(state, &user, now);
    let subject = ClaimsSubject::from_user(&user, &state.default_image_url);
    Ok((session, subject))
}

/// A token minted for a user is activity: the first one on a UTC day records the day in the
/// user's `last_active_at` (`last_active_at_*` filters and ordering read it). The write runs
/// beside the response, not in its way; a failure only costs the record, and is logged.
fn note_activity(state: &AppState, user: &User, now: i64) {
    let Some(day) = user.activity_day(now) else {
        return;
    };
    let store = Arc::clone(&state.store);
    let id = user.id.clone();
    tokio::spawn(async move {
        let edit = roster_store::user_edit(move |u| {
            if u.activity_day(now).is_some() {
                u.last_active_at = Some(day);
            }
            Ok(())
        });
        if let Err(e) = store.update_user(&id, edit).await {
            tracing::warn!(error = %e, user = %id, "recording last_active_at failed");
        }
    });
}

async fn session_claims_template(state: &AppState) -> ApiResult<Option<Value>> {
    state
        .store
        .setting(SESSION_CLAIMS_SETTING)
        .await?
        .map(|text| parse_claims(&text))
        .transpose()
}

/// The stored session claims template.
fn parse_claims(text: &str) -> ApiResult<Value> {
    serde_json::from_str(text).map_err(|e| ApiError::Internal(e.to_string()))
}

/// Mints a session token for a session (Backend or Frontend API). `azp` is the request's origin.
pub async fn mint_session_token(
    state: &AppState,
    session_id: &str,
    lifetime: Option<i64>,
    azp: Option<&str>,
) -> ApiResult<String> {
    let now = now_ms();
    let mut read = minting_read(
        state,
        session_id,
        ClaimsSource::Setting(SESSION_CLAIMS_SETTING),
    )
    .await?;
    let custom = read
        .setting
        .take()
        .map(|text| parse_claims(&text))
        .transpose()?;
    let (session, subject) = minting_subject(state, session_id, read, now)?;
    let times = TokenTimes {
        iat: now / 1000,
        lifetime: lifetime.unwrap_or(SESSION_TOKEN_LIFETIME_S),
        allowed_clock_skew: SESSION_TOKEN_NBF_SKEW_S,
    };
    let jti = ids::new_id("jti", now);
    let claims = claims::session_token_claims(
        custom.as_ref(),
        &subject,
        &session,
        &state.issuer,
        azp,
        &jti,
        &times,
    );
    let jwt = state.signer.sign(&claims, TokenCategory::Session).await?;
    warn_if_over_budget(state, "session token", jwt.len());
    Ok(jwt)
}

fn warn_if_over_budget(state: &AppState, what: &str, bytes: usize) {
    if bytes <= COOKIE_BUDGET_BYTES {
        return;
    }
    if let Ok(mut warned) = state.oversized_warned.lock() {
        if warned.insert(what.to_owned()) {
            tracing::warn!(
                template = what,
                bytes,
                budget = COOKIE_BUDGET_BYTES,
                "token exceeds the 4 KB cookie budget; browsers will drop the __session cookie"
            );
        }
    }
}

fn token(jwt: String) -> Json<TokenJson> {
    Json(TokenJson {
        object: "token".into(),
        jwt,
    })
}

/// `POST /v1/sessions/{session_id}/tokens`
pub async fn create_token(
    State(state): State<AppState>,
    PathIds(id): PathIds<String>,
    JsonObject(body): JsonObject,
) -> ApiResult<Json<TokenJson>> {
    let lifetime = expires_in(body)?;
    Ok(token(
        mint_session_token(&state, &id, lifetime, None).await?,
    ))
}

/// Mints a token from the named JWT template.
pub async fn mint_template_token(
    state: &AppState,
    session_id: &str,
    template_name: &str,
    lifetime: Option<i64>,
    azp: Option<&str>,
) -> ApiResult<String> {
    let now = now_ms();
    let mut read = minting_read(state, session_id, ClaimsSource::Template(template_name)).await?;
    let template = read
        .template
        .take()
        .ok_or_else(|| template_not_found("name", template_name))?;
    let (_, subject) = minting_subject(state, session_id, read, now)?;
    let times = TokenTimes {
        iat: now / 1000,
        lifetime: lifetime.unwrap_or(template.lifetime),
        allowed_clock_skew: template.allowed_clock_skew,
    };
    let jti = ids::new_id("jti", now);
    let claims =
        claims::template_token_claims(&template.claims, &subject, &state.issuer, azp, &jti, &times);
    let jwt = state.signer.sign(&claims, TokenCategory::Template).await?;
    warn_if_over_budget(state, &template.name, jwt.len());
    Ok(jwt)
}

/// `POST /v1/sessions/{session_id}/tokens/{template_name}`
pub async fn create_template_token(
    State(state): State<AppState>,
    PathIds((id, name)): PathIds<(String, String)>,
    JsonObject(body): JsonObject,
) -> ApiResult<Json<TokenJson>> {
    let lifetime = expires_in(body)?;
    Ok(token(
        mint_template_token(&state, &id, &name, lifetime, None).await?,
    ))
}

fn template_not_found(attribute: &str, value: &str) -> ApiError {
    let shown: String = value.chars().take(64).collect();
    ApiError::NotFound(format!("No JWT template exists with {attribute}: {shown}"))
}

fn claims_error(e: claims::ClaimsError) -> ApiError {
    ApiError::Claims(e)
}

const TEMPLATE_PARAMS: &[&str] = &[
    "name",
    "claims",
    "lifetime",
    "allowed_clock_skew",
    "custom_signing_key",
    "signing_algorithm",
    "signing_key",
];

/// The fields of a create or update body, validated. An omitted (or null) `lifetime` or
/// `allowed_clock_skew` takes its value from `current`: the defaults on create, the stored values
/// on update, so that an SDK's update naming only the claims keeps them.
fn template_fields(
    body: Map<String, Value>,
    current: (i64, i64),
) -> ApiResult<(String, Value, i64, i64)> {
    let mut f = Fields::new(body, TEMPLATE_PARAMS)?;
    let name = f
        .string("name")?
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| DomainError::MissingParam {
            param: "name".into(),
        })?;
    if name.len() > 128 || name.contains(['/', '\0']) {
        return Err(DomainError::InvalidValue {
            param: "name".into(),
            reason: "name must be at most 128 characters, without '/' or NUL characters.".into(),
        }
        .into());
    }
    let claims = f
        .take_value("claims")
        .ok_or_else(|| DomainError::MissingParam {
            param: "claims".into(),
        })?;
    claims::validate(&claims, claims::TEMPLATE_RESERVED).map_err(claims_error)?;
    let bounded =
        |f: &mut Fields, param: &str, default: i64, min: i64, max: i64| -> ApiResult<i64> {
            let value = f.nullable_int(param)?.flatten().unwrap_or(default);
            if (min..=max).contains(&value) {
                Ok(value)
            } else {
                Err(DomainError::InvalidValue {
                    param: param.into(),
                    reason: format!("{param} must be between {min} and {max}."),
                }
                .into())
            }
        };
    let lifetime = bounded(
        &mut f,
        "lifetime",
        current.0,
        MIN_TOKEN_LIFETIME_S,
        MAX_TOKEN_LIFETIME_S,
    )?;
    let skew = bounded(&mut f, "allowed_clock_skew", current.1, 0, MAX_CLOCK_SKEW_S)?;
    if f.bool("custom_signing_key")?.unwrap_or(false) || f.string("signing_key")?.is_some() {
        return Err(DomainError::InvalidValue {
            param: "custom_signing_key".into(),
            reason: "Custom signing keys are not supported by Roster; templates are signed with the instance key (RS256).".into(),
        }
        .into());
    }
    if let Some(alg) = f.string("signing_algorithm")? {
        if alg != "RS256" {
            return Err(DomainError::InvalidValue {
                param: "signing_algorithm".into(),
                reason: "Only RS256 is supported.".into(),
            }
            .into());
        }
    }
    Ok((name, claims, lifetime, skew))
}

/// `GET /v1/jwt_templates`
pub async fn list_templates(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let page = paging(&first_values(query_pairs(raw.as_deref())?, &[]))?;
    let (templates, total) = state
        .store
        .list_jwt_templates(page.limit, page.offset)
        .await?;
    let items: Vec<JwtTemplateJson> = templates.iter().map(JwtTemplate::to_json).collect();
    Ok(list_response(items, total, page.paginated))
}

/// `POST /v1/jwt_templates`
pub async fn create_template(
    State(state): State<AppState>,
    JsonObject(body): JsonObject,
) -> ApiResult<Json<JwtTemplateJson>> {
    let (name, claims, lifetime, allowed_clock_skew) =
        template_fields(body, (DEFAULT_TEMPLATE_LIFETIME_S, DEFAULT_CLOCK_SKEW_S))?;
    let now = now_ms();
    let template = JwtTemplate {
        id: ids::new_id("jtmpl", now),
        name,
        claims,
        lifetime,
        allowed_clock_skew,
        created_at: now,
        updated_at: now,
    };
    Ok(Json(
        state.store.insert_jwt_template(template).await?.to_json(),
    ))
}

async fn existing_template(state: &AppState, id: &str) -> ApiResult<JwtTemplate> {
    checked_id(id, "jtmpl", |id| template_not_found("id", id))?;
    state
        .store
        .jwt_template(id)
        .await?
        .ok_or_else(|| template_not_found("id", id))
}

/// `GET /v1/jwt_templates/{template_id}`
pub async fn get_template(
    State(state): State<AppState>,
    PathIds(id): PathIds<String>,
) -> ApiResult<Json<JwtTemplateJson>> {
    Ok(Json(existing_template(&state, &id).await?.to_json()))
}

/// `PATCH /v1/jwt_templates/{template_id}`: `name` and `claims` are required, as in Clerk; the
/// lifetime and clock skew stay as they are unless given.
pub async fn update_template(
    State(state): State<AppState>,
    PathIds(id): PathIds<String>,
    JsonObject(body): JsonObject,
) -> ApiResult<Json<JwtTemplateJson>> {
    let existing = existing_template(&state, &id).await?;
    let (name, claims, lifetime, allowed_clock_skew) =
        template_fields(body, (existing.lifetime, existing.allowed_clock_skew))?;
    let updated = JwtTemplate {
        name,
        claims,
        lifetime,
        allowed_clock_skew,
        updated_at: now_ms(),
        ..existing
    };
    let saved = state
        .store
        .update_jwt_template(updated)
        .await?
        .ok_or_else(|| template_not_found("id", &id))?;
    Ok(Json(saved.to_json()))
}

/// `DELETE /v1/jwt_templates/{template_id}`
pub async fn delete_template(
    State(state): State<AppState>,
    PathIds(id): PathIds<String>,
) -> ApiResult<Json<DeletedObjectJson>> {
    checked_id(&id, "jtmpl", |id| template_not_found("id", id))?;
    if !state.store.delete_jwt_template(&id).await? {
        return Err(template_not_found("id", &id));
    }
    Ok(Json(DeletedObjectJson {
        object: "jwt_template".into(),
        id,
        deleted: true,
    }))
}

/// The size of a session token minted now for the newest user with the given template.
async fn sample_token_bytes(
    state: &AppState,
    template: Option<&Value>,
) -> ApiResult<Option<usize>> {
    let query = roster_domain::query::UserQuery {
        limit: 1,
        ..Default::default()
    };
    let Some(user) = state.store.list_users(&query).await?.into_iter().next() else {
        return Ok(None);
    };
    let now = now_ms();
    let subject = ClaimsSubject::from_user(&user, &state.default_image_url);
    let session = Session::new(
        ids::new_id("sess", now),
        user.id.clone(),
        ids::new_id("client", now),
        now,
    );
    let times = TokenTimes {
        iat: now / 1000,
        lifetime: SESSION_TOKEN_LIFETIME_S,
        allowed_clock_skew: SESSION_TOKEN_NBF_SKEW_S,
    };
    let claims = claims::session_token_claims(
        template,
        &subject,
        &session,
        &state.issuer,
        None,
        "jti_sample",
        &times,
    );
    Ok(Some(
        state
            .signer
            .sign(&claims, TokenCategory::Session)
            .await?
            .len(),
    ))
}

async fn claims_response(
    state: &AppState,
    template: Option<Value>,
) -> ApiResult<Json<SessionTokenClaimsJson>> {
    let sample_token_bytes = sample_token_bytes(state, template.as_ref()).await?;
    Ok(Json(SessionTokenClaimsJson {
        object: "session_token_claims".into(),
        claims: template.unwrap_or_else(|| Value::Object(Map::new())),
        sample_token_bytes,
    }))
}

/// `GET /v1/instance/session_token_claims`
pub async fn get_session_claims(
    State(state): State<AppState>,
) -> ApiResult<Json<SessionTokenClaimsJson>> {
    let template = session_claims_template(&state).await?;
    claims_response(&state, template).await
}

/// Validates and stores the instance's custom session claims (HTTP, CLI and config file).
pub async fn store_session_claims(
    state_store: &std::sync::Arc<dyn roster_store::Store>,
    claims: &Value,
) -> ApiResult<()> {
    claims::validate(claims, claims::SESSION_RESERVED).map_err(claims_error)?;
    let text = serde_json::to_string(claims).map_err(|e| ApiError::Internal(e.to_string()))?;
    state_store
        .set_setting(SESSION_CLAIMS_SETTING, &text)
        .await?;
    Ok(())
}

/// `PUT /v1/instance/session_token_claims`: replaces the template.
pub async fn put_session_claims(
    State(state): State<AppState>,
    JsonObject(body): JsonObject,
) -> ApiResult<Json<SessionTokenClaimsJson>> {
    let mut f = Fields::new(body, &["object", "claims", "sample_token_bytes"])?;
    let claims = f
        .take_value("claims")
        .ok_or_else(|| DomainError::MissingParam {
            param: "claims".into(),
        })?;
    store_session_claims(&state.store, &claims).await?;
    claims_response(&state, Some(claims)).await
}

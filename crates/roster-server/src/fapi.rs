//! The Frontend API, mounted at `/fapi/v1`: what `@clerk/clerk-js` calls on behalf of a browser.
//!
//! Transport as clerk-js sends it: form bodies, `POST` + `_method`, `{response, client}` envelopes
//! with the client piggybacked, unwrapped environment and token responses. A browser is a
//! *client*, known by the HttpOnly `__client` cookie (`<client id>.<secret>`; only the secret's
//! hash is stored, and it rotates whenever a session is created). Native apps send the same
//! value in `Authorization`.
//!
//! Tier rules hold by construction: users are rendered with [`FrontendUserJson`], which has no
//! private metadata, and the only metadata a request here can change is `unsafe_metadata`.

use axum::extract::{FromRequest, Request, State};
use axum::http::header::{
    AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, COOKIE, ORIGIN, REFERER, SET_COOKIE, USER_AGENT,
};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use rand::distributions::Alphanumeric;
use rand::Rng;
use serde_json::{json, Map, Value};
use subtle::ConstantTimeEq;

use roster_domain::client::{
    record_failed_password, Client, SignInAttempt, SignUpAttempt, SIGN_UP_LIFETIME_MS,
};
use roster_domain::metadata::{replaced, MetadataTier};
use roster_domain::rate_limit::Attempt;
use roster_domain::session::{DeviceActivity, Session, SessionStatus, SESSIONS_LISTED};
use roster_domain::user::NewUser;
use roster_domain::{ids, password, validate, DomainError, MetadataWrite, User};
use roster_store::SessionFilter;

use crate::app::AppState;
use crate::body::{overridden_method, parse_form, parse_object, query_value};
use crate::client_ip::ClientIp;
use crate::error::{ApiError, ApiResult};
use crate::json::Json;
use crate::rate_limit;
use crate::routes::users::unsupported;
use crate::routes::{now_ms, sessions as bapi_sessions, PathIds};

/// The first Frontend API version on which `PATCH /me` refuses `unsafe_metadata`.
const ME_METADATA_MOVED_IN: &str = "2026-05-12";
const CLIENT_COOKIE: &str = "__client";
const COOKIE_MAX_AGE_S: i64 = 365 * 86_400;

/// The `Secure` attribute for a cookie on a response from (or set by) an https origin.
fn secure_attribute(https: bool) -> &'static str {
    if https {
        "; Secure"
    } else {
        ""
    }
}

/// `__client_uat` tells a backend (`authenticateRequest`) whether this browser is signed in: the
/// client's last update in seconds, 0 when signed out.
fn client_uat_cookie(uat: i64, secure: &str) -> String {
    format!("__client_uat={uat}; Path=/; SameSite=Lax; Max-Age={COOKIE_MAX_AGE_S}{secure}")
}

fn append_cookies(headers: &mut HeaderMap, cookies: impl IntoIterator<Item = String>) {
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(&c) {
            headers.append(SET_COOKIE, v);
        }
    }
}

/// Rewrites `POST …?_method=PATCH` (and PUT, DELETE) before routing.
pub async fn override_method(mut req: Request) -> Request {
    if let Some(method) = overridden_method(req.method(), req.uri().query()) {
        *req.method_mut() = method;
    }
    req
}

/// The Frontend API's edge. CORS for configured origins: credentials allowed, the exact origin
/// echoed (never `*`), and the headers native clients read exposed. A write carrying the
/// `__client` cookie from where the browser says is foreign is refused
/// ([`write_origin_trusted`]). The client credential goes back in a header to native clients
/// only, and no response may be cached.
pub async fn cors(
    State(state): State<AppState>,
    req: Request,
    next: axum::middleware::Next,
) -> Response {
    let origin = origin(req.headers());
    let allowed = origin
        .as_ref()
        .filter(|o| state.allowed_origins.iter().any(|a| a == *o))
        .cloned();
    if req.method() == axum::http::Method::OPTIONS {
        let mut resp = axum::http::StatusCode::NO_CONTENT.into_response();
        if let Some(o) = &allowed {
            add_cors_headers(resp.headers_mut(), o);
            let h = resp.headers_mut();
            h.insert(
                "access-control-allow-methods",
                HeaderValue::from_static("GET, POST, PATCH, PUT, DELETE"),
            );
            h.insert(
                "access-control-allow-headers",
                HeaderValue::from_static("authorization, content-type, x-mobile"),
            );
            h.insert("access-control-max-age", HeaderValue::from_static("600"));
        }
        return resp;
    }
    let client_cookie = request_cookie(req.headers(), CLIENT_COOKIE).is_some();
    let cookie_write = req.method() != axum::http::Method::GET && client_cookie;
    if cookie_write
        && !write_origin_trusted(&state, req.headers(), origin.as_deref(), allowed.is_some())
    {
        return ApiError::OriginInvalid.into_response();
    }
    // The client's credential goes back in `Authorization` to native clients only (`_is_native`,
    // or a request that sent it that way). A request that came with the cookie is a browser's,
    // whatever it says: its credential stays in the HttpOnly cookie, out of reach of the page's
    // scripts (which could add `_is_native=1`).
    let native = !client_cookie
        && (req.headers().contains_key(AUTHORIZATION)
            || query_value(req.uri().query(), "_is_native")
                .is_some_and(|v| v != "0" && v != "false"));
    let mut resp = next.run(req).await;
    if !native {
        resp.headers_mut().remove(AUTHORIZATION);
    }
    // Responses carry session tokens and the client: no cache may keep them.
    resp.headers_mut()
        .entry(CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    if let Some(o) = &allowed {
        add_cors_headers(resp.headers_mut(), o);
    }
    resp
}

/// Whether a write carrying the `__client` cookie may come from where the browser says it comes
/// from. `SameSite=Lax` keeps the cookie off cross-site requests, but not off same-site ones
/// (another port of the same host, a sibling subdomain), nor off a POST from a sandboxed frame or
/// one redirected across origins (`Origin: null`). Trusted: an allowed origin, Roster's own, or
/// a request the browser marks `Sec-Fetch-Site: same-origin` (a same-origin proxy, whose pages
/// send their own origin). Refused otherwise when the browser says the request is foreign: an
/// opaque origin, any other origin once allowed origins are configured, or
/// `Sec-Fetch-Site: same-site`/`cross-site`. Clients that are not browsers send none of these.
fn write_origin_trusted(
    state: &AppState,
    headers: &HeaderMap,
    origin: Option<&str>,
    allowed: bool,
) -> bool {
    let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if allowed || same_origin(state, origin) || fetch_site == Some("same-origin") {
        return true;
    }
    let opaque = headers.get(ORIGIN).is_some_and(|v| v == "null");
    let foreign = opaque
        || (origin.is_some() && !state.allowed_origins.is_empty())
        || matches!(fetch_site, Some("same-site" | "cross-site"));
    !foreign
}

/// Whether `origin` is the Frontend API's own: equal to its scheme, host and port, never just a
/// prefix of its URL (`http://127.0.0.1:3` is not `http://127.0.0.1:3000`).
fn same_origin(state: &AppState, origin: Option<&str>) -> bool {
    origin.is_some_and(|o| o == origin_of(&state.issuer))
}

/// `scheme://host[:port]` of a URL: everything before the path.
fn origin_of(url: &str) -> &str {
    let path_at = url
        .find("://")
        .and_then(|scheme_end| {
            let after = scheme_end + 3;
            url[after..].find('/').map(|i| after + i)
        })
        .unwrap_or(url.len());
    &url[..path_at]
}

fn add_cors_headers(headers: &mut HeaderMap, origin: &str) {
    if let Ok(v) = HeaderValue::from_str(origin) {
        headers.insert("access-control-allow-origin", v);
    }
    headers.insert(
        "access-control-allow-credentials",
        HeaderValue::from_static("true"),
    );
    headers.insert(
        "access-control-expose-headers",
        HeaderValue::from_static("authorization"),
    );
    headers.insert("vary", HeaderValue::from_static("origin"));
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/environment", get(environment).patch(environment))
        .route("/client", get(get_client).delete(destroy_client))
        .route("/client/handshake", get(handshake))
        .route("/client/sign_ups", post(create_sign_up))
        .route(
            "/client/sign_ups/{id}",
            axum::routing::patch(update_sign_up),
        )
        .route(
            "/client/sign_ups/{id}/prepare_verification",
            post(sign_up_verification),
        )
        .route(
            "/client/sign_ups/{id}/attempt_verification",
            post(sign_up_verification),
        )
        .route("/client/sign_ins", post(create_sign_in))
        .route("/client/sign_ins/{id}", get(get_sign_in))
        .route(
            "/client/sign_ins/{id}/attempt_first_factor",
            post(attempt_first_factor),
        )
        .route("/client/sessions", axum::routing::delete(sign_out))
        .route("/client/sessions/{id}", get(get_session))
        .route("/client/sessions/{id}/touch", post(touch))
        .route("/client/sessions/{id}/tokens", post(token))
        .route(
            "/client/sessions/{id}/tokens/{template}",
            post(template_token),
        )
        .route("/client/sessions/{id}/end", post(end_session))
        .route("/client/sessions/{id}/remove", post(remove_session))
        .route("/me", get(me).patch(update_me).delete(delete_me))
        .route("/me/metadata", axum::routing::patch(merge_me_metadata))
        .route("/me/sessions/active", get(my_active_sessions))
        .route("/me/sessions/{id}/revoke", post(revoke_my_session))
        .route("/me/change_password", post(change_password))
        // What clerk-js's profile page offers and Roster does not keep: a clear 422, not a 404.
        .route("/me/email_addresses", post(add_email_address))
        .route(
            "/me/profile_image",
            post(profile_image).delete(profile_image),
        )
        .fallback(crate::app::not_found)
        .method_not_allowed_fallback(crate::app::method_not_allowed)
        .with_state(state)
}

/// Form fields are text: a name or value that is not UTF-8 once percent-decoded is refused with
/// the field's name, rather than stored with replacement characters (as the Backend API refuses
/// invalid UTF-8 in JSON). NULs are left to each field's own validation.
fn check_form_text(bytes: &[u8]) -> ApiResult<()> {
    for pair in bytes.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
        let (key, value) = match pair.iter().position(|b| *b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &pair[..0]),
        };
        let text = |raw: &[u8]| -> Option<String> {
            let spaced: Vec<u8> = raw
                .iter()
                .map(|&b| if b == b'+' { b' ' } else { b })
                .collect();
            let decoded: Vec<u8> = percent_encoding::percent_decode(&spaced).collect();
            String::from_utf8(decoded).ok()
        };
        let param = text(key);
        if param.is_none() || text(value).is_none() {
            return Err(DomainError::InvalidFormat {
                param: param.unwrap_or_default(),
                reason: "must be UTF-8 text".into(),
            }
            .into());
        }
    }
    Ok(())
}

/// A form or JSON body as a map of fields (clerk-js sends forms; other clients may send JSON).
pub struct FapiBody(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for FapiBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.to_ascii_lowercase().starts_with("application/json"));
        let crate::body::RawBody(bytes) = crate::body::RawBody::from_request(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(FapiBody(Map::new()));
        }
        if is_json {
            parse_object(&bytes).map(FapiBody)
        } else {
            check_form_text(&bytes)?;
            Ok(FapiBody(parse_form(&bytes)))
        }
    }
}

/// Frontend writes may never name the privileged tiers.
fn refuse_privileged_tiers(body: &Map<String, Value>) -> ApiResult<()> {
    for tier in [MetadataTier::Public, MetadataTier::Private] {
        if body.contains_key(tier.param_name()) {
            return Err(DomainError::UnknownParam {
                param: tier.param_name().into(),
            }
            .into());
        }
    }
    Ok(())
}

/// A boolean form field: `true`/`false` (as clerk-js sends them) or a JSON boolean; absent or
/// empty is false, anything else a 422.
fn flag(body: &Map<String, Value>, name: &str) -> ApiResult<bool> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) if s.is_empty() || s == "false" => Ok(false),
        Some(Value::String(s)) if s == "true" => Ok(true),
        Some(_) => Err(DomainError::WrongType {
            param: name.into(),
            expected: "boolean",
        }
        .into()),
    }
}

fn text(body: &Map<String, Value>, name: &str) -> ApiResult<Option<String>> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(DomainError::WrongType {
            param: name.into(),
            expected: "string",
        }
        .into()),
    }
}

/// `unsafe_metadata` arrives as a JSON string in forms (and as an object in JSON bodies).
fn unsafe_metadata(body: &Map<String, Value>) -> ApiResult<Option<Value>> {
    let param = MetadataTier::Unsafe.param_name();
    let value = match body.get(param) {
        None => return Ok(None),
        Some(Value::String(s)) if s.is_empty() => Value::Null,
        Some(Value::String(s)) => {
            serde_json::from_str(s).map_err(|_| DomainError::InvalidValue {
                param: param.into(),
                reason: "unsafe_metadata must be a stringified JSON object.".into(),
            })?
        }
        Some(other) => other.clone(),
    };
    roster_domain::metadata::validate_tier_value(MetadataTier::Unsafe, &value)?;
    Ok(Some(value))
}

fn random_secret() -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(40)
        .map(char::from)
        .collect()
}

fn secret_hash(secret: &str) -> String {
    hex::encode(crate::keys::hash_key(secret))
}

/// The value of the request's cookie `name`.
fn request_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|cookies| cookies.split(';'))
        .find_map(|c| {
            let (key, value) = c.trim().split_once('=')?;
            (key == name).then(|| value.to_owned())
        })
}

/// The `__client` value of the request: cookie first, then `Authorization` (with or without
/// `Bearer `) for native clients.
fn presented_client(headers: &HeaderMap) -> Option<String> {
    let from_cookie = request_cookie(headers, CLIENT_COOKIE);
    let from_header = || {
        let v = headers.get(AUTHORIZATION)?.to_str().ok()?;
        Some(v.strip_prefix("Bearer ").unwrap_or(v).trim().to_owned())
    };
    from_cookie.or_else(from_header)
}

/// The client of this request, when it presented a valid one.
async fn current_client(state: &AppState, headers: &HeaderMap) -> ApiResult<Option<Client>> {
    match presented_client(headers) {
        Some(value) => client_by_value(state, &value).await,
        None => Ok(None),
    }
}

/// The client of this request; without a valid one, 401 `authentication_invalid`.
async fn required_client(state: &AppState, headers: &HeaderMap) -> ApiResult<Client> {
    current_client(state, headers)
        .await?
        .ok_or_else(unauthenticated)
}

/// The client a `__client` value (`<client id>.<secret>`) names, when its secret matches (compared
/// in constant time). Also the Backend API's `POST /v1/clients/verify`.
pub(crate) async fn client_by_value(state: &AppState, value: &str) -> ApiResult<Option<Client>> {
    let Some((id, secret)) = value.split_once('.') else {
        return Ok(None);
    };
    if !ids::has_shape(id, "client") {
        return Ok(None);
    }
    let Some(client) = state.store.get_client(id).await? else {
        return Ok(None);
    };
    let matches: bool = secret_hash(secret)
        .as_bytes()
        .ct_eq(client.secret_hash.as_bytes())
        .into();
    Ok(matches.then_some(client))
}

/// What a response must carry besides its body: a new `__client` value when it was created or
/// rotated.
struct Issued(Option<String>);

fn new_client(now: i64) -> (Client, String) {
    let secret = random_secret();
    let client = Client {
        id: ids::new_id("client", now),
        secret_hash: secret_hash(&secret),
        last_active_session_id: None,
        sign_up: None,
        sign_in: None,
        created_at: now,
        updated_at: now,
    };
    (client, secret)
}

/// Gives the client a fresh secret (on every new session: no session fixation).
fn rotate(client: &mut Client) -> String {
    let secret = random_secret();
    client.secret_hash = secret_hash(&secret);
    secret
}

fn origin(headers: &HeaderMap) -> Option<String> {
    headers
        .get(ORIGIN)
        .and_then(|v| v.to_str().ok())
        .filter(|o| !o.is_empty() && *o != "null")
        .map(str::to_owned)
}

/// The party a token minted for this request is for (`azp`): the request's `Origin`, or, when a
/// browser sends none (same-origin GETs, such as clerk-js's `GET /client` on every page load
/// through a same-origin proxy), the origin of its `Referer`. Clerk leaves `azp` out then, and a
/// backend checking `authorizedParties` refuses the page's cookie until the next refresh.
/// An origin longer than this names no party (a scheme, a 253-character DNS name and a port fit
/// well within it): tokens, and the cache that keeps them, stay small whatever a client sends.
fn token_azp(headers: &HeaderMap) -> Option<String> {
    const MAX_AZP_LEN: usize = 300;
    let azp = if headers.contains_key(ORIGIN) {
        // `Origin: null` is an opaque context, not a missing header: no party to name.
        origin(headers)?
    } else {
        let referer = url::Url::parse(headers.get(REFERER)?.to_str().ok()?).ok()?;
        if !matches!(referer.scheme(), "http" | "https") {
            return None;
        }
        referer.origin().ascii_serialization()
    };
    (azp.len() <= MAX_AZP_LEN).then_some(azp)
}

/// Single-session mode, as the environment says: a client with an active session starts no
/// other sign-in or sign-up (clerk-js knows `session_exists`).
async fn refuse_second_session(state: &AppState, client: &Client, now: i64) -> ApiResult<()> {
    if client.last_active_session_id.is_some()
        && !active_sessions(state, client, now).await?.is_empty()
    {
        return Err(ApiError::SessionExists);
    }
    Ok(())
}

async fn active_sessions(state: &AppState, client: &Client, now: i64) -> ApiResult<Vec<Session>> {
    let filter = SessionFilter {
        client_id: Some(client.id.clone()),
        status: Some(SessionStatus::Active),
        now,
        limit: SESSIONS_LISTED,
        ..SessionFilter::default()
    };
    Ok(state.store.list_sessions(&filter).await?.0)
}

/// A session as the Frontend API shows it: with its user and a fresh token.
async fn session_json(
    state: &AppState,
    session: &Session,
    origin: Option<&str>,
    now: i64,
) -> ApiResult<Value> {
    let user = state.store.get_user(&session.user_id).await?;
    let user_version = user.as_ref().map_or(0, |u| u.updated_at);
    let token = if !session.can_mint(now) {
        None
    } else if let Some(jwt) = state
        .session_tokens
        .get(&session.id, origin, user_version, now)
    {
        Some(jwt)
    } else {
        let jwt = bapi_sessions::mint_session_token(state, &session.id, None, origin)
            .await
            .ok();
        if let Some(jwt) = &jwt {
            state
                .session_tokens
                .put(&session.id, origin, user_version, now, jwt);
        }
        jwt
    };
    let ctx = state.render_context(now);
    let user_json = user.as_ref().map(|u| u.to_frontend_json(&ctx));
    let minutes = (now - session.created_at).max(0) / 60_000;
    let mut json = session_base_json(session, now);
    json.insert(
        "last_active_token".into(),
        json!(token.map(|jwt| json!({"object": "token", "jwt": jwt}))),
    );
    json.insert("tasks".into(), Value::Null);
    json.insert("user".into(), json!(user_json));
    json.insert(
        "public_user_data".into(),
        json!(user.as_ref().map(|u| json!({
            "first_name": u.first_name,
            "last_name": u.last_name,
            "image_url": &*state.default_image_url,
            "has_image": false,
            "identifier": u.primary_email().or(u.username.as_deref()).unwrap_or(""),
            "user_id": u.id,
        }))),
    );
    json.insert("factor_verification_age".into(), json!([minutes, -1]));
    Ok(Value::Object(json))
}

/// The fields every Frontend API view of a session has, whoever it is shown to.
fn session_base_json(session: &Session, now: i64) -> Map<String, Value> {
    let mut json = Map::new();
    for (key, value) in [
        ("object", json!("session")),
        ("id", json!(session.id)),
        ("status", json!(session.status_at(now).as_str())),
        ("expire_at", json!(session.expire_at)),
        ("abandon_at", json!(session.abandon_at)),
        ("last_active_at", json!(session.last_active_at)),
        ("last_active_organization_id", Value::Null),
        ("actor", Value::Null),
        ("created_at", json!(session.created_at)),
        ("updated_at", json!(session.updated_at)),
    ] {
        json.insert(key.into(), value);
    }
    json
}

fn sign_up_json(s: &SignUpAttempt) -> Value {
    json!({
        "object": "sign_up_attempt",
        "id": s.id,
        "status": s.status(),
        "required_fields": ["email_address", "password"],
        "optional_fields": ["first_name", "last_name", "username"],
        "missing_fields": s.missing_fields(),
        "unverified_fields": [],
        "verifications": {"email_address": null, "phone_number": null, "web3_wallet": null, "external_account": null},
        "username": s.username,
        "email_address": s.email_address,
        "phone_number": null,
        "web3_wallet": null,
        "password_enabled": s.password_digest.is_some(),
        // clerk-js reads `signUp.hasPassword` from this one.
        "has_password": s.password_digest.is_some(),
        "first_name": s.first_name,
        "last_name": s.last_name,
        "unsafe_metadata": s.unsafe_metadata,
        "public_metadata": {},
        "custom_action": false,
        "external_id": null,
        "created_session_id": s.created_session_id,
        "created_user_id": s.created_user_id,
        "abandon_at": s.abandon_at,
        "legal_accepted_at": s.legal_accepted_at,
        "locale": s.locale,
    })
}

async fn client_json(
    state: &AppState,
    client: &Client,
    origin: Option<&str>,
    now: i64,
) -> ApiResult<Value> {
    let mut sessions = Vec::new();
    for session in active_sessions(state, client, now).await? {
        sessions.push(session_json(state, &session, origin, now).await?);
    }
    Ok(json!({
        "object": "client",
        "id": client.id,
        "sessions": sessions,
        // The attempt in progress, as clerk-js reads it back into `clerk.client.signIn`.
        "sign_in": client.sign_in.as_ref().map(|s| sign_in_json(state, s, None)),
        "sign_up": client.sign_up.as_ref().map(sign_up_json),
        "last_active_session_id": client.last_active_session_id,
        "last_authentication_strategy": null,
        "cookie_expires_at": null,
        "captcha_bypass": false,
        "created_at": client.created_at,
        "updated_at": client.updated_at,
    }))
}

/// `{response, client}` plus the cookies a new or rotated client needs.
async fn respond(
    state: &AppState,
    response: Value,
    client: Option<&Client>,
    issued: Issued,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let now = now_ms();
    let azp = token_azp(headers);
    let client_value = match client {
        Some(c) => client_json(state, c, azp.as_deref(), now).await?,
        None => Value::Null,
    };
    let mut resp = Json(json!({"response": response, "client": client_value})).into_response();
    let Some(client) = client else {
        return Ok(resp);
    };
    let secure = secure_attribute(state.issuer.starts_with("https://"));
    let signed_in = client.last_active_session_id.is_some();
    let mut cookies = Vec::new();
    if let Some(secret) = issued.0 {
        let value = format!("{}.{secret}", client.id);
        cookies.push(format!("{CLIENT_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={COOKIE_MAX_AGE_S}{secure}"));
        let uat = if signed_in {
            client.updated_at / 1000
        } else {
            0
        };
        cookies.push(client_uat_cookie(uat, secure));
        // Native clients read the rotated value from this header (`cors` strips it for others).
        if let Ok(v) = HeaderValue::from_str(&format!("Bearer {value}")) {
            resp.headers_mut().insert(AUTHORIZATION, v);
        }
    } else if !signed_in && request_cookie(headers, "__client_uat").is_some_and(|uat| uat != "0") {
        // The last session ended (end, remove, the user deleted) without a new secret: a browser
        // still claiming to be signed in would send backends into a handshake for nothing.
        cookies.push(client_uat_cookie(0, secure));
    }
    append_cookies(resp.headers_mut(), cookies);
    Ok(resp)
}

/// `GET|PATCH /v1/environment` (unwrapped): a production-like instance, captcha off, email and
/// password sign-up.
async fn environment(State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "object": "environment",
        "id": state.instance.id,
        "auth_config": {"object": "auth_config", "id": format!("aac_{}", state.instance.id), "single_session_mode": true, "claimed_at": null, "reverification": false, "session_minter": false},
        "display_config": {
            "object": "display_config", "id": format!("display_config_{}", state.instance.id),
            "application_name": roster_domain::claims::APPLICATION_NAME, "instance_environment_type": "production",
            "captcha_public_key": null, "captcha_public_key_invisible": null, "captcha_widget_type": null,
            "captcha_provider": null, "captcha_oauth_bypass": [], "captcha_heartbeat": false,
            "home_url": "/", "sign_in_url": "/sign-in", "sign_up_url": "/sign-up",
            "after_sign_in_url": "/", "after_sign_up_url": "/", "after_sign_out_one_url": "/",
            "after_sign_out_all_url": "/", "branded": false, "preferred_sign_in_strategy": "password",
            "support_email": null, "logo_image_url": "", "favicon_image_url": "", "theme": {}
        },
        "user_settings": {
            "attributes": {
                "email_address": {"enabled": true, "required": true, "used_for_first_factor": true, "first_factors": ["email_code"], "used_for_second_factor": false, "second_factors": [], "verifications": [], "verify_at_sign_up": false},
                "password": {"enabled": true, "required": true, "used_for_first_factor": false, "first_factors": [], "used_for_second_factor": false, "second_factors": [], "verifications": [], "verify_at_sign_up": false},
                "username": {"enabled": true, "required": false, "used_for_first_factor": true, "first_factors": [], "used_for_second_factor": false, "second_factors": [], "verifications": [], "verify_at_sign_up": false},
                "first_name": {"enabled": true, "required": false, "used_for_first_factor": false, "first_factors": [], "used_for_second_factor": false, "second_factors": [], "verifications": [], "verify_at_sign_up": false},
                "last_name": {"enabled": true, "required": false, "used_for_first_factor": false, "first_factors": [], "used_for_second_factor": false, "second_factors": [], "verifications": [], "verify_at_sign_up": false}
            },
            "sign_in": {"second_factor": {"required": false}},
            "sign_up": {"captcha_enabled": false, "captcha_widget_type": null, "custom_action_required": false, "progressive": true, "mode": "public", "legal_consent_enabled": false},
            "restrictions": {"allowlist": {"enabled": false}, "blocklist": {"enabled": false}},
            "password_settings": {"min_length": password::MIN_PASSWORD_CHARS, "max_length": 0, "require_special_char": false, "require_numbers": false, "require_uppercase": false, "require_lowercase": false, "show_zxcvbn": false, "min_zxcvbn_strength": 0, "allowed_special_characters": "", "disable_hibp": true, "enforce_hibp_on_sign_in": false},
            "social": {}, "saml": {"enabled": false}, "enterprise_sso": {"enabled": false},
            "actions": {"delete_self": true, "create_organization": false},
            "attack_protection": {"user_lockout": {"enabled": true, "max_attempts": roster_domain::user::MAX_VERIFICATION_ATTEMPTS, "duration_in_minutes": 60}},
            "passkey_settings": {"allow_autofill": false, "show_sign_in_button": false}
        },
        "maintenance_mode": false,
        "client_debug_mode": false,
        "partitioned_cookies": false
    }))
}

/// `GET /v1/client`: `{response: Client|null, client: null}`; never a 4xx.
async fn get_client(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Json<Value>> {
    let Some(client) = current_client(&state, &headers).await? else {
        return Ok(Json(json!({"response": null, "client": null})));
    };
    let azp = token_azp(&headers);
    let body = client_json(&state, &client, azp.as_deref(), now_ms()).await?;
    Ok(Json(json!({"response": body, "client": null})))
}

/// Applies the fields of a sign-up request. The password is hashed in a bounded blocking worker.
async fn apply_sign_up_fields(
    state: &AppState,
    attempt: &mut SignUpAttempt,
    body: &Map<String, Value>,
) -> ApiResult<()> {
    refuse_privileged_tiers(body)?;
    if let Some(email) = text(body, "email_address")? {
        attempt.email_address = Some(validate::email(&email)?);
    }
    if let Some(username) = text(body, "username")? {
        attempt.username = Some(validate::username(&username)?);
    }
    for (param, slot) in [
        ("first_name", &mut attempt.first_name),
        ("last_name", &mut attempt.last_name),
    ] {
        if let Some(value) = text(body, param)? {
            *slot = Some(validate::text(param, &value, 256)?);
        }
    }
    if let Some(locale) = text(body, "locale")? {
        attempt.locale = Some(validate::locale(&locale)?);
    }
    if let Some(metadata) = unsafe_metadata(body)? {
        // Sign-up updates replace unsafe metadata, as Clerk appears to.
        attempt.unsafe_metadata = replaced(MetadataTier::Unsafe, &metadata)?;
    }
    if let Some(plain) = text(body, "password")? {
        password::check_policy(&plain, false)?;
        attempt.password_digest = Some(hash_password(state, plain).await?);
    }
    if flag(body, "legal_accepted")? {
        attempt.legal_accepted_at = Some(now_ms());
    }
    Ok(())
}

/// Creates the user and a session once nothing is missing; the client's secret rotates.
async fn complete_sign_up(state: &AppState, client: &mut Client) -> ApiResult<Option<String>> {
    let Some(attempt) = client.sign_up.as_mut() else {
        return Ok(None);
    };
    if attempt.created_user_id.is_some() || !attempt.missing_fields().is_empty() {
        return Ok(None);
    }
    let now = now_ms();
    let new = NewUser {
        email_addresses: attempt
            .email_address
            .iter()
            .map(|e| (e.clone(), true))
            .collect(),
        username: attempt.username.clone(),
        first_name: attempt.first_name.clone(),
        last_name: attempt.last_name.clone(),
        locale: attempt.locale.clone(),
        password_digest: attempt.password_digest.clone(),
        legal_accepted_at: attempt.legal_accepted_at,
        metadata: MetadataWrite {
            unsafe_: Some(attempt.unsafe_metadata.clone()),
            ..MetadataWrite::default()
        },
        ..NewUser::default()
    };
    let mut user = User::create(new, now, |p| ids::new_id(p, now))?;
    user.last_sign_in_at = Some(now);
    let user = state.store.insert_user(user).await?;
    let session = Session::new(
        ids::new_id("sess", now),
        user.id.clone(),
        client.id.clone(),
        now,
    );
    state.store.insert_session(session.clone()).await?;
    attempt.created_user_id = Some(user.id);
    attempt.created_session_id = Some(session.id.clone());
    client.last_active_session_id = Some(session.id);
    client.updated_at = now;
    Ok(Some(rotate(client)))
}

/// Counts a sign-up request against its address and the identifiers it names, before any
/// password is hashed.
async fn limit_sign_up(
    state: &AppState,
    ip: std::net::IpAddr,
    body: &Map<String, Value>,
) -> ApiResult<()> {
    rate_limit::check_ip(state, Attempt::SignUp, ip).await?;
    for param in ["email_address", "username"] {
        if let Some(identifier) = text(body, param)? {
            rate_limit::check_identifier(state, Attempt::SignUp, &identifier).await?;
        }
    }
    Ok(())
}

/// `POST /v1/client/sign_ups`
async fn create_sign_up(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    FapiBody(body): FapiBody,
) -> ApiResult<Response> {
    limit_sign_up(&state, ip, &body).await?;
    let now = now_ms();
    let (mut client, mut issued) = match current_client(&state, &headers).await? {
        Some(c) => (c, None),
        None => {
            let (c, secret) = new_client(now);
            (c, Some(secret))
        }
    };
    refuse_second_session(&state, &client, now).await?;
    let mut attempt = SignUpAttempt {
        id: ids::new_id("sua", now),
        unsafe_metadata: json!({}),
        abandon_at: now + SIGN_UP_LIFETIME_MS,
        created_at: now,
        ..SignUpAttempt::default()
    };
    apply_sign_up_fields(&state, &mut attempt, &body).await?;
    client.sign_up = Some(attempt);
    client.updated_at = now;
    if let Some(secret) = complete_sign_up(&state, &mut client).await? {
        issued = Some(secret);
    }
    state.store.put_client(&client).await?;
    let response = client
        .sign_up
        .as_ref()
        .map(sign_up_json)
        .unwrap_or(Value::Null);
    respond(&state, response, Some(&client), Issued(issued), &headers).await
}

fn unauthenticated() -> ApiError {
    ApiError::FrontendUnauthenticated
}

/// `POST /v1/client/sign_ups/{id}/prepare_verification|attempt_verification`: Roster sends no
/// email, and takes the address a sign-up gives as verified, as Clerk does when the instance
/// requires no verification. The custom flows in Clerk's guides call these after `create`
/// regardless; they get Clerk's 400 `verification_already_verified` (with the sign-up already
/// complete), not an unrouted 404.
async fn sign_up_verification(
    State(state): State<AppState>,
    headers: HeaderMap,
    PathIds(id): PathIds<String>,
) -> ApiResult<Response> {
    let client = required_client(&state, &headers).await?;
    let Some(attempt) = client.sign_up.as_ref().filter(|s| s.id == id) else {
        return Err(sign_up_not_found());
    };
    if attempt.email_address.is_none() {
        return Err(DomainError::MissingParam {
            param: "email_address".into(),
        }
        .into());
    }
    Err(ApiError::AlreadyVerified)
}

/// `PATCH /v1/client/sign_ups/{id}`
async fn update_sign_up(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    PathIds(id): PathIds<String>,
    FapiBody(body): FapiBody,
) -> ApiResult<Response> {
    limit_sign_up(&state, ip, &body).await?;
    let mut client = required_client(&state, &headers).await?;
    let Some(attempt) = client.sign_up.as_mut().filter(|s| s.id == id) else {
        return Err(sign_up_not_found());
    };
    if attempt.created_user_id.is_none() {
        apply_sign_up_fields(&state, attempt, &body).await?;
        if attempt.missing_fields().is_empty() {
            // Completing it would sign a second account in on this client.
            refuse_second_session(&state, &client, now_ms()).await?;
        }
    }
    let issued = complete_sign_up(&state, &mut client).await?;
    state.store.put_client(&client).await?;
    let response = client
        .sign_up
        .as_ref()
        .map(sign_up_json)
        .unwrap_or(Value::Null);
    respond(&state, response, Some(&client), Issued(issued), &headers).await
}

/// The session `id` of this client, when it is the client's and active.
async fn client_session(state: &AppState, client: &Client, id: &str) -> ApiResult<Session> {
    let session = state
        .store
        .get_session(id)
        .await?
        .filter(|s| s.client_id == client.id);
    session.ok_or_else(session_not_found)
}

fn sign_up_not_found() -> ApiError {
    ApiError::NotFound("No sign up was found with this id".into())
}

fn session_not_found() -> ApiError {
    ApiError::NotFound("No session was found with this id".into())
}

/// `POST /v1/client/sessions/{id}/touch` (`setActive`)
async fn touch(
    State(state): State<AppState>,
    headers: HeaderMap,
    PathIds(id): PathIds<String>,
) -> ApiResult<Response> {
    let mut client = required_client(&state, &headers).await?;
    let session = client_session(&state, &client, &id).await?;
    let now = now_ms();
    client.last_active_session_id = Some(session.id.clone());
    client.updated_at = now;
    state.store.put_client(&client).await?;
    let body = session_json(&state, &session, token_azp(&headers).as_deref(), now).await?;
    respond(&state, body, Some(&client), Issued(None), &headers).await
}

/// `POST /v1/client/sessions/{id}/tokens` (unwrapped), `azp` from the request (`token_azp`).
async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    PathIds(id): PathIds<String>,
) -> ApiResult<Json<Value>> {
    let client = required_client(&state, &headers).await?;
    let session = client_session(&state, &client, &id).await?;
    let jwt = bapi_sessions::mint_session_token(
        &state,
        &session.id,
        None,
        token_azp(&headers).as_deref(),
    )
    .await
    .map_err(signed_out_when_ended)?;
    Ok(Json(json!({"object": "token", "jwt": jwt})))
}

/// A session that ended (signed out elsewhere, revoked, its user banned or deleted, expired)
/// answers a token request with Clerk's 401 `signed_out`: clerk-js signs the page out on a 401,
/// where a 404 would leave it signed in and retrying.
fn signed_out_when_ended(e: ApiError) -> ApiError {
    match e {
        ApiError::SessionNotActive { .. } => ApiError::SignedOut,
        other => other,
    }
}

/// `GET /v1/client/sessions/{id}` (`session.reload()`)
async fn get_session(
    State(state): State<AppState>,
    headers: HeaderMap,
    PathIds(id): PathIds<String>,
) -> ApiResult<Response> {
    let client = required_client(&state, &headers).await?;
    let session = client_session(&state, &client, &id).await?;
    let body = session_json(&state, &session, token_azp(&headers).as_deref(), now_ms()).await?;
    respond(&state, body, Some(&client), Issued(None), &headers).await
}

/// `POST /v1/client/sessions/{id}/tokens/{template}` (unwrapped)
async fn template_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    PathIds((id, template)): PathIds<(String, String)>,
) -> ApiResult<Json<Value>> {
    let client = required_client(&state, &headers).await?;
    let session = client_session(&state, &client, &id).await?;
    let jwt = bapi_sessions::mint_template_token(
        &state,
        &session.id,
        &template,
        None,
        token_azp(&headers).as_deref(),
    )
    .await
    .map_err(signed_out_when_ended)?;
    Ok(Json(json!({"object": "token", "jwt": jwt})))
}

async fn close_session(
    state: &AppState,
    headers: &HeaderMap,
    id: &str,
    status: SessionStatus,
) -> ApiResult<Response> {
    let client = required_client(state, headers).await?;
    client_session(state, &client, id).await?;
    close_and_respond(state, headers, client, id, status).await
}

/// Sets the session's status; when it was this client's last active one, the client is signed
/// out of it. Answers `{response: session, client}`.
async fn close_and_respond(
    state: &AppState,
    headers: &HeaderMap,
    mut client: Client,
    id: &str,
    status: SessionStatus,
) -> ApiResult<Response> {
    let now = now_ms();
    let session = state
        .store
        .set_session_status(id, status, now)
        .await?
        .ok_or_else(session_not_found)?;
    if client.last_active_session_id.as_deref() == Some(id) {
        client.last_active_session_id = None;
    }
    client.updated_at = now;
    state.store.put_client(&client).await?;
    let body = session_json(state, &session, None, now).await?;
    respond(state, body, Some(&client), Issued(None), headers).await
}

/// `POST /v1/client/sessions/{id}/end`
async fn end_session(
    State(state): State<AppState>,
    headers: HeaderMap,
    PathIds(id): PathIds<String>,
) -> ApiResult<Response> {
    close_session(&state, &headers, &id, SessionStatus::Ended).await
}

/// `POST /v1/client/sessions/{id}/remove`
async fn remove_session(
    State(state): State<AppState>,
    headers: HeaderMap,
    PathIds(id): PathIds<String>,
) -> ApiResult<Response> {
    close_session(&state, &headers, &id, SessionStatus::Removed).await
}

/// `DELETE /v1/client/sessions` (`signOut`): ends every session of the client, keeps the client.
async fn sign_out(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let mut client = required_client(&state, &headers).await?;
    let now = now_ms();
    let secret = end_everything(&state, &mut client, now).await?;
    let body = client_json(&state, &client, None, now).await?;
    respond(&state, body, Some(&client), Issued(Some(secret)), &headers).await
}

/// `DELETE /v1/client` (`client.destroy()`): signs out like `signOut` and forgets the browser:
/// the client's secret rotates and is never sent, so the old cookie names no client, and the
/// cookies are cleared.
async fn destroy_client(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    // A cookie that names no client any more is cleared all the same.
    let body = match current_client(&state, &headers).await? {
        Some(mut client) => {
            let now = now_ms();
            end_everything(&state, &mut client, now).await?;
            client_json(&state, &client, None, now).await?
        }
        None => Value::Null,
    };
    let mut resp = Json(json!({"response": body, "client": null})).into_response();
    append_cookies(
        resp.headers_mut(),
        [
            format!("{CLIENT_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"),
            "__client_uat=0; Path=/; SameSite=Lax; Max-Age=0".to_owned(),
        ],
    );
    Ok(resp)
}

/// The publishable key for clerk-js and `@clerk/backend`: production-type (`pk_live_`: no dev
/// browser, no development handshakes), naming the Frontend API's host and path, which is what
/// session tokens' `iss` says. So `@clerk/backend` takes the tokens as this instance's and reads
/// the unsuffixed `__session` and `__client_uat` cookies. Both clients are given Roster's address
/// as `proxyUrl`; the host in the key is never contacted. (The key stored with the instance at
/// its creation named a made-up development host; it is no longer shown.)
pub fn publishable_key(issuer: &str) -> String {
    use base64::Engine;
    let frontend_api = issuer.split_once("://").map_or(issuer, |(_, rest)| rest);
    format!(
        "pk_live_{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(format!("{frontend_api}$"))
    )
}

/// How long a handshake token is good for: the one redirect back to the app.
const HANDSHAKE_LIFETIME_S: i64 = 60;

/// `GET /v1/client/handshake`: where `@clerk/backend`'s `authenticateRequest` sends a page load
/// whose session cookies are stale or missing (reference 6.2). The browser goes back to
/// `redirect_url` carrying a `__clerk_handshake` cookie: a token signed like session tokens whose
/// `handshake` claim lists the cookies the app then sets, a fresh `__session` and `__client_uat`
/// when this browser's client has an active session, cleared ones when it has none.
///
/// The cookie rides on the app's own host when the Frontend API is reached through the app (the
/// recommended same-origin `proxyUrl`) or on another port of the same host, as Clerk sets it on
/// the app's domain. So `redirect_url` must be on this request's host, Roster's own, or an
/// allowed origin: anything else would make this an open redirect.
async fn handshake(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    req_uri: axum::http::Uri,
) -> ApiResult<Response> {
    let target = handshake_target(&state, &headers, req_uri.query())?;
    let now = now_ms();
    let client = current_client(&state, &headers).await?;
    // The directives are set by the app's response, the handshake cookie by this one.
    let app_secure = secure_attribute(target.scheme() == "https");
    let own_secure = secure_attribute(state.issuer.starts_with("https://"));
    let last_active = client.and_then(|c| Some((c.last_active_session_id?, c.updated_at)));
    let azp = target.origin().ascii_serialization();
    // Minting checks the session: one that ended, or a banned or locked user, is refused, and
    // the page is then signed out rather than stranded on an error.
    let fresh = match last_active {
        Some((session_id, updated_at)) => {
            match bapi_sessions::mint_session_token(&state, &session_id, None, Some(&azp)).await {
                Ok(jwt) => Some((jwt, updated_at)),
                Err(e) if e.is_refusal() => None,
                Err(e) => return Err(e),
            }
        }
        None => None,
    };
    if fresh.is_none() {
        // A browser sent here is signed in (the SDK only sends one whose cookies say so). Any
        // other request (no client, an empty one anybody can make, a session that has ended)
        // still costs a signature: counted per address.
        rate_limit::check_ip(&state, Attempt::Handshake, ip).await?;
    }
    let mut directives = match fresh {
        Some((jwt, updated_at)) => vec![
            format!("__session={jwt}; Path=/; SameSite=Lax{app_secure}"),
            client_uat_cookie(updated_at / 1000, app_secure),
        ],
        None => vec![
            format!("__session=; Path=/; SameSite=Lax; Max-Age=0{app_secure}"),
            client_uat_cookie(0, app_secure),
        ],
    };
    directives.push(format!("__clerk_handshake=; Path=/; Max-Age=0{app_secure}"));
    let iat = now / 1000;
    let mut claims = serde_json::Map::new();
    claims.insert("handshake".into(), json!(directives));
    claims.insert("iat".into(), json!(iat));
    claims.insert("exp".into(), json!(iat + HANDSHAKE_LIFETIME_S));
    let token = state
        .signer
        .sign(&claims, crate::signing::TokenCategory::Session)
        .await?;
    let location = HeaderValue::from_str(target.as_str()).map_err(|_| redirect_refused())?;
    let mut resp = axum::http::StatusCode::TEMPORARY_REDIRECT.into_response();
    let h = resp.headers_mut();
    h.insert(axum::http::header::LOCATION, location);
    h.insert(
        axum::http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    append_cookies(
        h,
        [format!(
            "__clerk_handshake={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={HANDSHAKE_LIFETIME_S}{own_secure}"
        )],
    );
    Ok(resp)
}

fn redirect_refused() -> ApiError {
    DomainError::InvalidValue {
        param: "redirect_url".into(),
        reason: "redirect_url must be an http(s) URL on this host, Roster's own or an allowed \
                 origin."
            .into(),
    }
    .into()
}

/// The handshake's `redirect_url`, parsed as a browser parses it (WHATWG), so that the host
/// checked is the host the browser goes to: http or https, no user info, and on this request's
/// host (any port: cookies ignore ports), Roster's own origin, or an allowed origin. Anything
/// else would make the handshake an open redirect. The URL is used in its serialized form.
fn handshake_target(
    state: &AppState,
    headers: &HeaderMap,
    query: Option<&str>,
) -> ApiResult<url::Url> {
    let raw = query_value(query, "redirect_url").ok_or_else(|| DomainError::MissingParam {
        param: "redirect_url".into(),
    })?;
    let target = url::Url::parse(&raw).map_err(|_| redirect_refused())?;
    if !matches!(target.scheme(), "http" | "https")
        || !target.username().is_empty()
        || target.password().is_some()
    {
        return Err(redirect_refused());
    }
    let Some(host) = target.host_str() else {
        return Err(redirect_refused());
    };
    let request_host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| hostname(h).to_ascii_lowercase());
    let origin = target.origin().ascii_serialization();
    let allowed = request_host.is_some_and(|h| h == host)
        || origin == origin_of(&state.issuer)
        || state.allowed_origins.contains(&origin);
    if allowed {
        Ok(target)
    } else {
        Err(redirect_refused())
    }
}

/// The host of a `Host` header value, without its port.
fn hostname(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((name, port))
            if !port.is_empty()
                && port.bytes().all(|b| b.is_ascii_digit())
                && (!name.contains(':') || name.ends_with(']')) =>
        {
            name
        }
        _ => host,
    }
}

/// Ends every active session of the client and its sign-up, and rotates its secret (returned).
async fn end_everything(state: &AppState, client: &mut Client, now: i64) -> ApiResult<String> {
    for session in active_sessions(state, client, now).await? {
        state
            .store
            .set_session_status(&session.id, SessionStatus::Removed, now)
            .await?;
    }
    client.last_active_session_id = None;
    client.sign_up = None;
    // The finished sign-in names the user who was signed in: not for the next one to see.
    client.sign_in = None;
    client.updated_at = now;
    let secret = rotate(client);
    state.store.put_client(client).await?;
    Ok(secret)
}

/// The signed-in user of this request: `_clerk_session_id`, else the client's last active session.
async fn signed_in(
    state: &AppState,
    headers: &HeaderMap,
    query: Option<&str>,
) -> ApiResult<(Client, Session)> {
    let client = required_client(state, headers).await?;
    let wanted = query_value(query, "_clerk_session_id")
        .or_else(|| client.last_active_session_id.clone())
        .ok_or_else(unauthenticated)?;
    let session = client_session(state, &client, &wanted)
        .await
        .map_err(|_| unauthenticated())?;
    if !session.can_mint(now_ms()) {
        return Err(unauthenticated());
    }
    Ok((client, session))
}

async fn user_response(
    state: &AppState,
    headers: &HeaderMap,
    client: &Client,
    user: &User,
) -> ApiResult<Response> {
    let body = serde_json::to_value(user.to_frontend_json(&state.render_context(now_ms())))
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    respond(state, body, Some(client), Issued(None), headers).await
}

/// `GET /v1/me`
async fn me(
    State(state): State<AppState>,
    headers: HeaderMap,
    req_uri: axum::http::Uri,
) -> ApiResult<Response> {
    let (client, session) = signed_in(&state, &headers, req_uri.query()).await?;
    let user = state
        .store
        .get_user(&session.user_id)
        .await?
        .ok_or_else(unauthenticated)?;
    user_response(&state, &headers, &client, &user).await
}

/// `PATCH /v1/me`: names, username and primary identifiers; `unsafe_metadata` replaces for API
/// versions before 2026-05-12 (clerk-js 5) and is refused from then on.
async fn update_me(
    State(state): State<AppState>,
    headers: HeaderMap,
    req_uri: axum::http::Uri,
    FapiBody(body): FapiBody,
) -> ApiResult<Response> {
    let (client, session) = signed_in(&state, &headers, req_uri.query()).await?;
    refuse_privileged_tiers(&body)?;
    let version = query_value(req_uri.query(), "__clerk_api_version");
    let metadata = unsafe_metadata(&body)?;
    if metadata.is_some()
        && version
            .as_deref()
            .is_some_and(|v| v >= ME_METADATA_MOVED_IN)
    {
        return Err(DomainError::RejectedForVersion {
            param: "unsafe_metadata".into(),
            version: version.unwrap_or_default(),
            instead: "PATCH /v1/me/metadata",
        }
        .into());
    }
    let mut changes = roster_domain::user::UserChanges::default();
    for (param, slot) in [
        ("first_name", &mut changes.first_name),
        ("last_name", &mut changes.last_name),
    ] {
        if body.contains_key(param) {
            *slot = Some(
                text(&body, param)?
                    .map(|v| validate::text(param, &v, 256))
                    .transpose()?,
            );
        }
    }
    if body.contains_key("username") {
        changes.username = Some(
            text(&body, "username")?
                .map(|u| validate::username(&u))
                .transpose()?,
        );
    }
    // The primary identifiers: one of the user's own verified ones, or a 422.
    changes.primary_email_address_id = text(&body, "primary_email_address_id")?;
    changes.primary_phone_number_id = text(&body, "primary_phone_number_id")?;
    if let Some(metadata) = metadata {
        changes.metadata.unsafe_ = Some(metadata);
    }
    let now = now_ms();
    let user = state
        .store
        .update_user(
            &session.user_id,
            roster_store::user_edit(move |u| u.apply_changes(changes.clone(), now)),
        )
        .await?
        .ok_or_else(unauthenticated)?;
    user_response(&state, &headers, &client, &user).await
}

/// `PATCH /v1/me/metadata`: deep merge into unsafe metadata, the only tier a frontend may write.
async fn merge_me_metadata(
    State(state): State<AppState>,
    headers: HeaderMap,
    req_uri: axum::http::Uri,
    FapiBody(body): FapiBody,
) -> ApiResult<Response> {
    let (client, session) = signed_in(&state, &headers, req_uri.query()).await?;
    refuse_privileged_tiers(&body)?;
    let patch = unsafe_metadata(&body)?.ok_or_else(|| DomainError::MissingParam {
        param: "unsafe_metadata".into(),
    })?;
    let now = now_ms();
    let user = state
        .store
        .update_user(
            &session.user_id,
            roster_store::user_edit(move |u| {
                u.merge_metadata(
                    &MetadataWrite {
                        unsafe_: Some(patch.clone()),
                        ..MetadataWrite::default()
                    },
                    now,
                )
            }),
        )
        .await?
        .ok_or_else(unauthenticated)?;
    user_response(&state, &headers, &client, &user).await
}

/// `GET /v1/me/sessions/active` (`user.getSessions()`): the user's active sessions on every
/// device, as a bare array. Roster keeps no history of devices: the session asking is described
/// from this request (browser, platform, address); the others have no `latest_activity`.
async fn my_active_sessions(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    req_uri: axum::http::Uri,
) -> ApiResult<Json<Value>> {
    let (_, current) = signed_in(&state, &headers, req_uri.query()).await?;
    let now = now_ms();
    let filter = SessionFilter {
        user_id: Some(current.user_id.clone()),
        status: Some(SessionStatus::Active),
        now,
        limit: SESSIONS_LISTED,
        ..SessionFilter::default()
    };
    let (sessions, _) = state.store.list_sessions(&filter).await?;
    let user_agent = headers
        .get(USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let device = DeviceActivity::from_user_agent(user_agent);
    let listed = sessions
        .iter()
        .map(|s| {
            let activity = (s.id == current.id).then(|| {
                json!({
                    "object": "session_activity",
                    "id": format!("sess_activity_{}", s.id),
                    "device_type": device.device_type,
                    "is_mobile": device.is_mobile,
                    "browser_name": device.browser_name,
                    "browser_version": device.browser_version,
                    "ip_address": ip.to_string(),
                })
            });
            let mut json = session_base_json(s, now);
            json.insert("last_active_token".into(), Value::Null);
            json.insert("latest_activity".into(), json!(activity));
            Value::Object(json)
        })
        .collect();
    Ok(Json(Value::Array(listed)))
}

/// `POST /v1/me/sessions/{id}/revoke` (`sessionWithActivities.revoke()`): ends one of the
/// user's sessions, on any device. Another user's session is not found.
async fn revoke_my_session(
    State(state): State<AppState>,
    headers: HeaderMap,
    req_uri: axum::http::Uri,
    PathIds(id): PathIds<String>,
) -> ApiResult<Response> {
    let (client, current) = signed_in(&state, &headers, req_uri.query()).await?;
    state
        .store
        .get_session(&id)
        .await?
        .filter(|s| s.user_id == current.user_id)
        .ok_or_else(session_not_found)?;
    close_and_respond(&state, &headers, client, &id, SessionStatus::Revoked).await
}

/// `POST /v1/me/email_addresses`: a user keeps the address they signed up with.
async fn add_email_address() -> ApiError {
    unsupported("email_address", "Adding email addresses is")
}

/// `POST|DELETE /v1/me/profile_image`: every user has the default avatar.
async fn profile_image() -> ApiError {
    unsupported("file", "Profile images are")
}

/// `POST /v1/me/change_password` (`user.updatePassword`): `current_password` (required when
/// the user has one; checked like a sign-in: limited per address and per identifier, and a wrong
/// one counts towards the lockout), `new_password` (the sign-up policy) and
/// `sign_out_of_other_sessions`.
async fn change_password(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    req_uri: axum::http::Uri,
    FapiBody(body): FapiBody,
) -> ApiResult<Response> {
    let (client, session) = signed_in(&state, &headers, req_uri.query()).await?;
    let new_password = text(&body, "new_password")?.ok_or_else(|| DomainError::MissingParam {
        param: "new_password".into(),
    })?;
    password::check_policy(&new_password, false)
        .map_err(|e| ApiError::from(e).for_param("new_password"))?;
    let sign_out_others = flag(&body, "sign_out_of_other_sessions")?;
    let current = text(&body, "current_password")?;
    let user = state
        .store
        .get_user(&session.user_id)
        .await?
        .ok_or_else(unauthenticated)?;
    let now = now_ms();
    let verified = user.password_digest.clone();
    let matched = match (&verified, current) {
        (None, _) => true,
        (Some(_), None) => {
            return Err(DomainError::MissingParam {
                param: "current_password".into(),
            }
            .into())
        }
        (Some(digest), Some(current)) => {
            rate_limit::check_ip(&state, Attempt::SignIn, ip).await?;
            let identifier = user.primary_email().or(user.username.as_deref());
            rate_limit::check_identifier(&state, Attempt::SignIn, identifier.unwrap_or(&user.id))
                .await?;
            password_matches(&state, current, Some(digest.clone())).await?
        }
    };
    settle_password_check(&state, &user, matched, now)
        .await
        .map_err(|e| match e {
            ApiError::PasswordIncorrect => e.for_param("current_password"),
            other => other,
        })?;
    let digest = hash_password(&state, new_password).await?;
    let user = state
        .store
        .update_user(
            &user.id,
            roster_store::user_edit(move |u| {
                // Only over the password just verified: one set meanwhile was not proven.
                if u.password_digest != verified {
                    return Err(DomainError::InvalidValue {
                        param: "current_password".into(),
                        reason: "The password changed while this request ran; try again.".into(),
                    });
                }
                u.apply_changes(
                    roster_domain::user::UserChanges {
                        password_digest: Some(digest.clone()),
                        ..Default::default()
                    },
                    now,
                )?;
                u.failed_verification_attempts = 0;
                Ok(())
            }),
        )
        .await?
        .ok_or_else(unauthenticated)?;
    if sign_out_others {
        state
            .store
            .revoke_user_sessions(&user.id, Some(&session.id), now)
            .await?;
    }
    user_response(&state, &headers, &client, &user).await
}

fn sign_in_json(state: &AppState, s: &SignInAttempt, user: Option<&User>) -> Value {
    let complete = s.created_session_id.is_some();
    json!({
        "object": "sign_in_attempt",
        "id": s.id,
        "status": s.status(),
        "supported_identifiers": ["email_address", "username"],
        "supported_first_factors": if s.identifier.is_some() { json!([{"strategy": "password"}]) } else { json!([]) },
        "supported_second_factors": null,
        "first_factor_verification": if complete {
            json!({"object": "verification_password", "status": "verified", "strategy": "password", "attempts": 1, "expire_at": null})
        } else { Value::Null },
        "second_factor_verification": null,
        "identifier": s.identifier,
        "user_data": user.filter(|_| complete).map(|u| json!({
            "first_name": u.first_name, "last_name": u.last_name,
            "image_url": &*state.default_image_url, "has_image": false,
        })),
        "created_session_id": s.created_session_id,
        "abandon_at": s.abandon_at,
    })
}

/// The user an identifier (email address or username) names.
async fn user_by_identifier(state: &AppState, identifier: &str) -> ApiResult<Option<User>> {
    let mut query = roster_domain::query::UserQuery {
        limit: 1,
        ..Default::default()
    };
    if identifier.contains('@') {
        query.filter.email_addresses = vec![identifier.trim().to_lowercase()];
    } else {
        query.filter.usernames = vec![identifier.trim().to_lowercase()];
    }
    Ok(state.store.list_users(&query).await?.into_iter().next())
}

/// An Argon2id digest of a password (one just verified, or a new one), in a bounded blocking
/// worker like checks.
async fn hash_password(state: &AppState, plain: String) -> ApiResult<String> {
    let _permit = state
        .password_permits
        .acquire()
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    tokio::task::spawn_blocking(move || password::hash(&plain))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|e| ApiError::Internal(e.to_string()))
}

/// Checks a password in a bounded blocking worker. Unknown users are checked against a dummy
/// digest, so an unknown identifier takes as long as a wrong password.
async fn password_matches(
    state: &AppState,
    candidate: String,
    digest: Option<String>,
) -> ApiResult<bool> {
    let _permit = state
        .password_permits
        .acquire()
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let known = digest.is_some();
    let digest = digest.unwrap_or_else(|| password::DUMMY_DIGEST.to_owned());
    let ok = tokio::task::spawn_blocking(move || password::verify(&candidate, &digest))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(known && ok)
}

/// After a password check of `user`: a banned or locked user is refused whatever the password,
/// and a wrong password counts towards the lockout.
async fn settle_password_check(
    state: &AppState,
    user: &User,
    matched: bool,
    now: i64,
) -> ApiResult<()> {
    if user.banned {
        return Err(ApiError::UserCannotSignIn("banned"));
    }
    if user.is_locked(now) {
        return Err(ApiError::UserCannotSignIn("locked"));
    }
    if !matched {
        state
            .store
            .update_user(
                &user.id,
                roster_store::user_edit(move |u| {
                    record_failed_password(u, now);
                    Ok(())
                }),
            )
            .await?;
        return Err(ApiError::PasswordIncorrect);
    }
    Ok(())
}

fn identifier_not_found() -> ApiError {
    ApiError::IdentifierNotFound
}

/// Verifies the password for the attempt's identifier; on success the user gets a session and
/// the client a fresh secret. Wrong passwords count towards the lockout.
async fn first_factor(
    state: &AppState,
    client: &mut Client,
    candidate: String,
) -> ApiResult<Option<String>> {
    let now = now_ms();
    let identifier = client
        .sign_in
        .as_ref()
        .and_then(|s| s.identifier.clone())
        .ok_or_else(identifier_not_found)?;
    let user = user_by_identifier(state, &identifier).await?;
    let digest = user.as_ref().and_then(|u| u.password_digest.clone());
    // A digest imported from another system is replaced by Argon2id at the first sign-in that
    // proves the password, as Clerk moves imported insecure digests to bcrypt.
    let upgrade = digest
        .as_deref()
        .is_some_and(password::is_imported)
        .then(|| (candidate.clone(), digest.clone()));
    let matched = password_matches(state, candidate, digest).await?;
    let Some(user) = user else {
        return Err(identifier_not_found());
    };
    settle_password_check(state, &user, matched, now).await?;
    let upgraded = match upgrade {
        Some((plain, verified)) => Some((hash_password(state, plain).await?, verified)),
        None => None,
    };
    state
        .store
        .update_user(
            &user.id,
            roster_store::user_edit(move |u| {
                u.failed_verification_attempts = 0;
                u.last_sign_in_at = Some(now);
                // Only over the digest just verified: a password set meanwhile stays.
                if let Some((digest, verified)) = &upgraded {
                    if &u.password_digest == verified {
                        u.password_digest = Some(digest.clone());
                    }
                }
                Ok(())
            }),
        )
        .await?;
    let session = Session::new(
        ids::new_id("sess", now),
        user.id.clone(),
        client.id.clone(),
        now,
    );
    state.store.insert_session(session.clone()).await?;
    if let Some(attempt) = client.sign_in.as_mut() {
        attempt.user_id = Some(user.id);
        attempt.created_session_id = Some(session.id.clone());
    }
    client.last_active_session_id = Some(session.id);
    client.updated_at = now;
    Ok(Some(rotate(client)))
}

async fn sign_in_response(
    state: &AppState,
    client: &Client,
    issued: Option<String>,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let attempt = client.sign_in.clone().unwrap_or_default();
    let user = match &attempt.user_id {
        Some(id) => state.store.get_user(id).await?,
        None => None,
    };
    let body = sign_in_json(state, &attempt, user.as_ref());
    respond(state, body, Some(client), Issued(issued), headers).await
}

/// `POST /v1/client/sign_ins`: with `identifier` (and `password` with `strategy=password` for the
/// one-step flow).
async fn create_sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    FapiBody(body): FapiBody,
) -> ApiResult<Response> {
    // Every sign-in counts against its address (an identifier alone still tells whether an
    // account exists); one that tries a password also counts against its identifier. Both come
    // before the user is looked up, so a refusal looks the same for known and unknown accounts.
    rate_limit::check_ip(&state, Attempt::SignIn, ip).await?;
    check_sign_in_strategy(&body)?;
    if let (Some(identifier), Some(_)) = (text(&body, "identifier")?, text(&body, "password")?) {
        rate_limit::check_identifier(&state, Attempt::SignIn, &identifier).await?;
    }
    let now = now_ms();
    let (mut client, mut issued) = match current_client(&state, &headers).await? {
        Some(c) => (c, None),
        None => {
            let (c, secret) = new_client(now);
            (c, Some(secret))
        }
    };
    refuse_second_session(&state, &client, now).await?;
    let identifier = text(&body, "identifier")?;
    client.sign_in = Some(SignInAttempt {
        id: ids::new_id("sia", now),
        identifier: identifier.clone(),
        user_id: None,
        created_session_id: None,
        abandon_at: now + SIGN_UP_LIFETIME_MS,
    });
    client.updated_at = now;
    let password = text(&body, "password")?;
    let outcome = match (identifier, password) {
        (Some(_), Some(password)) => first_factor(&state, &mut client, password).await,
        (Some(identifier), None) => match user_by_identifier(&state, &identifier).await? {
            Some(_) => Ok(None),
            None => Err(identifier_not_found()),
        },
        (None, _) => Ok(None),
    };
    // An existing client is kept whatever the outcome, so its cookie stays valid for a retry. A
    // new one is stored only if its cookie goes out: a refused attempt would leave a row nothing
    // can ever use.
    if outcome.is_ok() || issued.is_none() {
        state.store.put_client(&client).await?;
    }
    match outcome {
        Ok(rotated) => {
            if rotated.is_some() {
                issued = rotated;
            }
            sign_in_response(&state, &client, issued, &headers).await
        }
        Err(e) => Err(e),
    }
}

/// A sign-in's `strategy`, when given, must be `password`, and then needs both an identifier and a
/// password (Clerk's spec); without one, an identifier alone starts a sign-in and a password is
/// attempted next.
fn check_sign_in_strategy(body: &Map<String, Value>) -> ApiResult<()> {
    match text(body, "strategy")?.as_deref() {
        None => Ok(()),
        Some("password") => {
            for param in ["identifier", "password"] {
                if text(body, param)?.is_none() {
                    return Err(DomainError::MissingParam {
                        param: param.into(),
                    }
                    .into());
                }
            }
            Ok(())
        }
        Some(other) => Err(DomainError::InvalidValue {
            param: "strategy".into(),
            reason: format!("{other} is not supported: the password strategy is the only one."),
        }
        .into()),
    }
}

/// `GET /v1/client/sign_ins/{id}`
async fn get_sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    PathIds(id): PathIds<String>,
) -> ApiResult<Response> {
    let client = required_client(&state, &headers).await?;
    if client.sign_in.as_ref().map(|s| s.id.as_str()) != Some(id.as_str()) {
        return Err(ApiError::NotFound(
            "No sign in was found with this id".into(),
        ));
    }
    sign_in_response(&state, &client, None, &headers).await
}

/// `POST /v1/client/sign_ins/{id}/attempt_first_factor` with `strategy=password`.
async fn attempt_first_factor(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    PathIds(id): PathIds<String>,
    FapiBody(body): FapiBody,
) -> ApiResult<Response> {
    rate_limit::check_ip(&state, Attempt::SignIn, ip).await?;
    let mut client = required_client(&state, &headers).await?;
    if client.sign_in.as_ref().map(|s| s.id.as_str()) != Some(id.as_str()) {
        return Err(ApiError::NotFound(
            "No sign in was found with this id".into(),
        ));
    }
    if text(&body, "strategy")?.as_deref() != Some("password") {
        return Err(DomainError::InvalidValue {
            param: "strategy".into(),
            reason: "Only the password strategy is supported.".into(),
        }
        .into());
    }
    let password = text(&body, "password")?.ok_or_else(|| DomainError::MissingParam {
        param: "password".into(),
    })?;
    if let Some(identifier) = client
        .sign_in
        .as_ref()
        .and_then(|s| s.identifier.as_deref())
    {
        rate_limit::check_identifier(&state, Attempt::SignIn, identifier).await?;
    }
    // A right password would sign a second session in on this client.
    refuse_second_session(&state, &client, now_ms()).await?;
    let outcome = first_factor(&state, &mut client, password).await;
    state.store.put_client(&client).await?;
    let issued = outcome?;
    sign_in_response(&state, &client, issued, &headers).await
}

/// `DELETE /v1/me`: self-deletion, when the user's `delete_self_enabled` allows it.
async fn delete_me(
    State(state): State<AppState>,
    headers: HeaderMap,
    req_uri: axum::http::Uri,
) -> ApiResult<Response> {
    let (mut client, session) = signed_in(&state, &headers, req_uri.query()).await?;
    let user = state
        .store
        .get_user(&session.user_id)
        .await?
        .ok_or_else(unauthenticated)?;
    if !user.delete_self_enabled {
        return Err(ApiError::Forbidden(
            "Deleting your own account is disabled for this user.",
        ));
    }
    let now = now_ms();
    state.store.delete_user(&user.id).await?;
    state
        .store
        .revoke_user_sessions(&user.id, None, now)
        .await?;
    client.last_active_session_id = None;
    client.updated_at = now;
    state.store.put_client(&client).await?;
    let body = json!({"object": "user", "id": user.id, "deleted": true});
    respond(&state, body, Some(&client), Issued(None), &headers).await
}

#[cfg(test)]
mod tests {
    use super::origin_of;

    #[test]
    fn the_publishable_key_names_the_frontend_api() {
        use base64::Engine;
        let key = super::publishable_key("http://127.0.0.1:4000/fapi");
        let encoded = key.strip_prefix("pk_live_").unwrap();
        let decoded = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(encoded)
            .unwrap();
        assert_eq!(decoded, b"127.0.0.1:4000/fapi$");
    }

    #[test]
    fn hosts_without_their_ports() {
        use super::hostname;
        for (host, name) in [
            ("localhost:3000", "localhost"),
            ("localhost", "localhost"),
            ("127.0.0.1:4000", "127.0.0.1"),
            ("[::1]:3000", "[::1]"),
            ("[::1]", "[::1]"),
            ("app.example.com", "app.example.com"),
        ] {
            assert_eq!(hostname(host), name, "{host}");
        }
    }

    #[test]
    fn an_origin_is_scheme_host_and_port() {
        assert_eq!(
            origin_of("http://127.0.0.1:4000/fapi"),
            "http://127.0.0.1:4000"
        );
        assert_eq!(
            origin_of("https://auth.example.com/fapi/v1"),
            "https://auth.example.com"
        );
        assert_eq!(origin_of("http://localhost:4000"), "http://localhost:4000");
    }
}

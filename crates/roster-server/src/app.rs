//! The HTTP application: shared state, the router, and the middleware every `/v1` request passes
//! (API version, then secret-key auth, before routing, so an unknown path without a key is 401).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::HeaderMap;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use roster_domain::user::RenderContext;
use roster_store::{Instance, Store};

use crate::body::query_value;
use crate::error::{ApiError, ApiResult};
use crate::keys::KeyRing;
use crate::routes::{clients, sessions, users};
use crate::signing::Signer;

/// What every handler shares. Axum clones the state for each request (extractors, middleware,
/// the route's handler), so it is one `Arc`: one reference count to touch, not one per part.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> AppState {
        AppState(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub struct Shared {
    pub store: Arc<dyn Store>,
    pub keys: KeyRing,
    pub instance: Arc<Instance>,
    /// The URL of the default avatar, under the server's public URL.
    pub default_image_url: Arc<str>,
    pub signer: Arc<Signer>,
    /// `iss` of every token: the Frontend API URL.
    pub issuer: Arc<str>,
    /// Origins allowed to call the Frontend API cross-origin.
    pub allowed_origins: Arc<Vec<String>>,
    /// Bounds concurrent password hashing and checking, so a flood of sign-ins queues instead of
    /// starving the blocking pool and the rest of the server.
    pub password_permits: Arc<tokio::sync::Semaphore>,
    /// Templates already warned about for exceeding the cookie budget (warn once each).
    pub oversized_warned: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
    /// The database's health as `/healthz` reports it, probed at most once a second.
    pub health: Arc<crate::health::HealthProbe>,
    /// Session tokens minted for Frontend API responses, reused for a few seconds.
    pub session_tokens: Arc<crate::token_cache::TokenCache>,
    /// Brute-force and abuse limits, counted in the store.
    pub rate_limits: Arc<crate::rate_limit::RateLimits>,
}

impl Shared {
    pub fn render_context(&self, now: i64) -> RenderContext<'_> {
        RenderContext {
            now,
            default_image_url: &self.default_image_url,
        }
    }
}

/// Path of the default avatar, served without auth. clerk-js's UI takes an image for the
/// default (and shows initials, with no "Remove") only when its URL says `avatar_placeholder`.
pub const DEFAULT_AVATAR_PATH: &str = "/avatars/avatar_placeholder.svg";
/// Where the default avatar was before; still served for URLs handed out earlier.
const FORMER_AVATAR_PATH: &str = "/avatars/default.svg";
const DEFAULT_AVATAR_SVG: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" fill="#e5e7eb"/><circle cx="32" cy="26" r="12" fill="#9ca3af"/><path d="M10 56c2-12 11-18 22-18s20 6 22 18z" fill="#9ca3af"/></svg>"##;

async fn default_avatar() -> impl IntoResponse {
    (
        [
            (axum::http::header::CONTENT_TYPE, "image/svg+xml"),
            (axum::http::header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        DEFAULT_AVATAR_SVG,
    )
}

/// The first API version whose `PATCH /users/{id}` rejects metadata.
pub const METADATA_ON_UPDATE_REJECTED_FROM: &str = "2026-05-12";

/// The `Clerk-API-Version` a request asked for, if any (`YYYY-MM-DD`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiVersion(pub Option<String>);

impl ApiVersion {
    /// True when the version is at least `date` (requests without a version are legacy).
    pub fn at_least(&self, date: &str) -> bool {
        self.0.as_deref().is_some_and(|v| v >= date)
    }
}

/// The API versions Clerk has published; any other value is `api_version_invalid`.
pub const KNOWN_API_VERSIONS: &[&str] = &[
    "2021-02-05",
    "2024-10-01",
    "2025-04-10",
    "2025-11-10",
    "2026-05-12",
];

/// The `Clerk-API-Version` a request asks for, from the header or `__clerk_api_version`.
fn api_version(req: &Request) -> ApiResult<ApiVersion> {
    let header = req
        .headers()
        .get("clerk-api-version")
        .map(|v| v.to_str().map(str::to_owned));
    let query = query_value(req.uri().query(), "__clerk_api_version");
    let version = match (header, query) {
        (Some(_), Some(_)) => {
            return Err(ApiError::ApiVersionInvalid(
                "give the version either as a header or as a query parameter, not both".into(),
            ))
        }
        (Some(Err(_)), None) => return Err(ApiError::ApiVersionInvalid("not a date".into())),
        (Some(Ok(v)), None) | (None, Some(v)) => Some(v),
        (None, None) => None,
    };
    if let Some(v) = &version {
        if !KNOWN_API_VERSIONS.contains(&v.as_str()) {
            let known = KNOWN_API_VERSIONS.join(", ");
            return Err(ApiError::ApiVersionInvalid(format!(
                "{v} is not a known version ({known})"
            )));
        }
    }
    Ok(ApiVersion(version))
}

/// Checks the `Authorization: Bearer sk_…` secret key.
async fn authenticate(state: &AppState, headers: &HeaderMap) -> ApiResult<()> {
    let key = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or(ApiError::AuthorizationHeaderInvalid)?;
    if state.keys.verify(key).await? {
        Ok(())
    } else {
        Err(ApiError::SecretKeyInvalid)
    }
}

/// What every `/v1` request passes before routing, in order: the API version, the secret key,
/// then the instance's rate limit (inside the key check, so only authenticated requests count and
/// nobody without the key can spend the instance's budget). One middleware rather than three:
/// each layer clones the state and the inner service on every request.
async fn bapi_guard(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let version = match api_version(&req) {
        Ok(version) => version,
        Err(e) => return e.into_response(),
    };
    let (headers, path) = (req.headers(), req.uri().path());
    let checked = async {
        authenticate(&state, headers).await?;
        crate::rate_limit::check_bapi(&state, path).await
    };
    if let Err(e) = checked.await {
        return e.into_response();
    }
    req.extensions_mut().insert(version);
    next.run(req).await
}

async fn healthz(State(state): State<AppState>) -> ApiResult<impl IntoResponse> {
    state.health.check(state.store.as_ref()).await?;
    Ok(axum::Json(serde_json::json!({"status": "ok"})))
}

pub(crate) async fn not_found() -> ApiError {
    ApiError::NotFound("Resource not found".into())
}

pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

pub fn router(state: AppState) -> Router {
    let v1 = Router::new()
        .route("/users", get(users::list).post(users::create))
        .route("/users/count", get(users::count))
        .route("/users/ban", post(users::ban_many))
        .route("/users/unban", post(users::unban_many))
        .route(
            "/users/{user_id}",
            get(users::get).patch(users::update).delete(users::delete),
        )
        .route(
            "/users/{user_id}/metadata",
            axum::routing::patch(users::merge_metadata).put(users::replace_metadata),
        )
        .route("/users/{user_id}/ban", post(users::ban))
        .route("/users/{user_id}/unban", post(users::unban))
        .route("/users/{user_id}/lock", post(users::lock))
        .route("/users/{user_id}/unlock", post(users::unlock))
        .route(
            "/users/{user_id}/verify_password",
            post(users::verify_password),
        )
        .route("/jwks", get(sessions::jwks))
        .route("/sessions", get(sessions::list).post(sessions::create))
        .route("/sessions/{session_id}", get(sessions::get))
        .route("/sessions/{session_id}/revoke", post(sessions::revoke))
        .route("/sessions/{session_id}/verify", post(sessions::verify))
        .route("/clients", get(clients::list))
        .route("/clients/verify", post(clients::verify))
        .route("/clients/{client_id}", get(clients::get))
        .route(
            "/sessions/{session_id}/tokens",
            post(sessions::create_token),
        )
        .route(
            "/sessions/{session_id}/tokens/{template_name}",
            post(sessions::create_template_token),
        )
        .route(
            "/jwt_templates",
            get(sessions::list_templates).post(sessions::create_template),
        )
        .route(
            "/jwt_templates/{template_id}",
            get(sessions::get_template)
                .patch(sessions::update_template)
                .delete(sessions::delete_template),
        )
        .route(
            "/instance/session_token_claims",
            get(sessions::get_session_claims).put(sessions::put_session_claims),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), bapi_guard));
    Router::new()
        .route("/healthz", get(healthz))
        .route(DEFAULT_AVATAR_PATH, get(default_avatar))
        .route(FORMER_AVATAR_PATH, get(default_avatar))
        // The Frontend API's public key set (no auth), where clerk-js and verifiers expect it.
        .route("/fapi/.well-known/jwks.json", get(sessions::jwks))
        .nest_service(
            "/fapi/v1",
            tower::ServiceBuilder::new()
                .layer(middleware::from_fn_with_state(
                    state.clone(),
                    crate::fapi::cors,
                ))
                .layer(middleware::map_request(crate::fapi::override_method))
                .service(crate::fapi::router(state.clone())),
        )
        .nest("/v1", v1)
        .fallback(not_found)
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_dates() {
        assert!(KNOWN_API_VERSIONS.contains(&METADATA_ON_UPDATE_REJECTED_FROM));
        let v = ApiVersion(Some("2026-05-12".into()));
        assert!(v.at_least(METADATA_ON_UPDATE_REJECTED_FROM));
        assert!(!ApiVersion(Some("2025-11-10".into())).at_least(METADATA_ON_UPDATE_REJECTED_FROM));
        assert!(!ApiVersion(None).at_least(METADATA_ON_UPDATE_REJECTED_FROM));
    }
}

//! `/v1/clients…`: the browsers and devices the Frontend API knows, and their active sessions.

use axum::extract::State;

use roster_domain::client::client_view;
use roster_domain::session::SESSIONS_LISTED;
use roster_domain::{ids, DomainError};
use roster_proto::ClientJson;
use roster_store::SessionFilter;

use super::now_ms;
use crate::app::AppState;
use crate::body::{Fields, JsonObject};
use crate::error::{ApiError, ApiResult};
use crate::fapi::client_by_value;
use crate::json::Json;
use crate::routes::PathIds;

fn client_not_found(id: &str) -> ApiError {
    let shown: String = id.chars().take(64).collect();
    ApiError::NotFound(format!("No client was found with id {shown}"))
}

/// `GET /v1/clients`: deprecated by Clerk, and not served (410 `operation_deprecated`).
pub async fn list() -> ApiError {
    ApiError::Deprecated {
        instead: "Read one client with GET /v1/clients/{client_id}, or a user's sessions with \
                  GET /v1/sessions?user_id=….",
    }
}

/// `GET /v1/clients/{client_id}`
pub async fn get(
    State(state): State<AppState>,
    PathIds(id): PathIds<String>,
) -> ApiResult<Json<ClientJson>> {
    if !ids::has_shape(&id, "client") {
        return Err(client_not_found(&id));
    }
    let record = state.store.get_client(&id).await?;
    view(&state, &id, record.as_ref()).await
}

/// `POST /v1/clients/verify` (`{token}`): the client a `__client` value names, when it is
/// valid. A value that names no client, or with the wrong secret, is 400 `token_invalid`.
pub async fn verify(
    State(state): State<AppState>,
    JsonObject(body): JsonObject,
) -> ApiResult<Json<ClientJson>> {
    let mut f = Fields::new(body, &["token"])?;
    let token = f
        .string("token")?
        .ok_or_else(|| DomainError::MissingParam {
            param: "token".into(),
        })?;
    let client = client_by_value(&state, &token)
        .await?
        .ok_or(ApiError::ClientTokenInvalid)?;
    view(&state, &client.id, Some(&client)).await
}

async fn view(
    state: &AppState,
    id: &str,
    record: Option<&roster_domain::client::Client>,
) -> ApiResult<Json<ClientJson>> {
    let now = now_ms();
    let filter = SessionFilter {
        client_id: Some(id.to_owned()),
        now,
        limit: SESSIONS_LISTED,
        ..SessionFilter::default()
    };
    let (sessions, _) = state.store.list_sessions(&filter).await?;
    client_view(id, record, &sessions, now)
        .map(Json)
        .ok_or_else(|| client_not_found(id))
}

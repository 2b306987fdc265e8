//! The backend snippets of Clerk's metadata guide, on Roster through `roster-sdk`:
//!
//! - `POST /updateStripe` `{userId, stripeId}`: private metadata (only the backend sees it);
//! - `POST /updateRole` `{userId, role}`: public metadata (the frontend can read it);
//! - `POST /updateBirthday` `{userId, birthday}`: unsafe metadata (the frontend may write it too);
//! - `GET /role`: the signed-in user's role, read from the session token's claims without calling
//!   Roster (set the instance's session claims to `{"role": "{{user.public_metadata.role}}"}`).

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use roster_sdk::axum::Auth;
use roster_sdk::{Client, MetadataUpdate, Verifier};

/// The service's state: a Roster client and a token verifier.
#[derive(Clone)]
pub struct AppState {
    pub roster: Client,
    pub verifier: Verifier,
}

impl FromRef<AppState> for Verifier {
    fn from_ref(state: &AppState) -> Verifier {
        state.verifier.clone()
    }
}

/// The session claims this app puts in tokens.
#[derive(Debug, Clone, Deserialize)]
pub struct AppClaims {
    pub role: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StripeBody {
    user_id: String,
    stripe_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RoleBody {
    user_id: String,
    role: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BirthdayBody {
    user_id: String,
    birthday: String,
}

type Reply = Result<Json<Value>, (StatusCode, Json<Value>)>;

fn failed(e: roster_sdk::Error) -> (StatusCode, Json<Value>) {
    let status = e
        .status()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::BAD_GATEWAY);
    (status, Json(json!({ "error": e.to_string() })))
}

async fn merge(
    state: &AppState,
    user_id: &str,
    update: Result<MetadataUpdate, roster_sdk::Error>,
) -> Reply {
    let update = update.map_err(failed)?;
    state
        .roster
        .users()
        .update_metadata(user_id, &update)
        .await
        .map_err(failed)?;
    Ok(Json(json!({ "success": true })))
}

async fn update_stripe(State(state): State<AppState>, Json(body): Json<StripeBody>) -> Reply {
    let update = MetadataUpdate::default().private(json!({ "stripeId": body.stripe_id }));
    merge(&state, &body.user_id, update).await
}

async fn update_role(State(state): State<AppState>, Json(body): Json<RoleBody>) -> Reply {
    let update = MetadataUpdate::default().public(json!({ "role": body.role }));
    merge(&state, &body.user_id, update).await
}

async fn update_birthday(State(state): State<AppState>, Json(body): Json<BirthdayBody>) -> Reply {
    let update = MetadataUpdate::default().unsafe_(json!({ "birthday": body.birthday }));
    merge(&state, &body.user_id, update).await
}

async fn role(auth: Auth<AppClaims>) -> Json<Value> {
    Json(json!({ "userId": auth.user_id, "role": auth.claims.custom.role }))
}

/// The service's routes.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/updateStripe", post(update_stripe))
        .route("/updateRole", post(update_role))
        .route("/updateBirthday", post(update_birthday))
        .route("/role", get(role))
        .with_state(state)
}

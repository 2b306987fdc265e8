//! Brute-force and abuse limits, enforced from the database so every Roster process on it counts
//! against the same counters.
//!
//! - Frontend API sign-in and sign-up attempts, per client address and per identifier: each
//!   request is counted before any user lookup or password work, so a refused attempt costs no
//!   Argon2 time and answers the same whether or not the identifier exists.
//! - Backend API requests per instance, off unless configured (the secret key holder is trusted).
//!
//! The window arithmetic lives in [`roster_domain::rate_limit`]; refusals render as 429
//! `too_many_requests` with `Retry-After` (see [`ApiError::TooManyRequests`]).

use std::net::IpAddr;

use roster_domain::rate_limit::{
    identifier_key, instance_key, ip_key, normalize_identifier, Attempt, Limit, Verdict,
};

use crate::app::AppState;
use crate::client_ip::TrustedProxies;
use crate::error::{ApiError, ApiResult};
use crate::routes::now_ms;

/// Attempts per client address (IPv6: per /64), for sign-in and for sign-up separately.
pub const DEFAULT_PER_IP: Limit = Limit {
    max: 30,
    window_ms: 60_000,
};
/// Password attempts per identifier (sign-in), and sign-up attempts per identifier.
pub const DEFAULT_PER_IDENTIFIER: Limit = Limit {
    max: 10,
    window_ms: 600_000,
};

/// The limits in force; `None` is off.
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimits {
    pub per_ip: Option<Limit>,
    pub per_identifier: Option<Limit>,
    /// Backend API requests per instance.
    pub bapi: Option<Limit>,
    pub trusted_proxies: TrustedProxies,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            per_ip: Some(DEFAULT_PER_IP),
            per_identifier: Some(DEFAULT_PER_IDENTIFIER),
            bapi: None,
            trusted_proxies: TrustedProxies::default(),
        }
    }
}

/// Counts an attempt on `key` and refuses it when the limit is exceeded.
async fn count(state: &AppState, limit: Option<Limit>, key: String) -> ApiResult<()> {
    let Some(limit) = limit else {
        return Ok(());
    };
    let now = now_ms();
    let counts = state.store.hit_rate_limit(&limit.hit(key, now)).await?;
    match limit.judge(counts, now) {
        Verdict::Allowed => Ok(()),
        Verdict::Limited { retry_after_s } => Err(ApiError::TooManyRequests { retry_after_s }),
    }
}

/// Counts an attempt from a client address.
pub async fn check_ip(state: &AppState, attempt: Attempt, ip: IpAddr) -> ApiResult<()> {
    let result = count(state, state.rate_limits.per_ip, ip_key(attempt, ip)).await;
    if result.is_err() {
        tracing::info!(%ip, attempt = attempt.as_str(), "rate limited per address");
    }
    result
}

/// Counts an attempt on an identifier, known or not (the same work either way).
pub async fn check_identifier(
    state: &AppState,
    attempt: Attempt,
    identifier: &str,
) -> ApiResult<()> {
    let digest = hex::encode(crate::keys::hash_key(&normalize_identifier(identifier)));
    let result = count(
        state,
        state.rate_limits.per_identifier,
        identifier_key(attempt, &digest),
    )
    .await;
    if result.is_err() {
        // The digest, not the identifier: the log need not become a list of tried addresses.
        tracing::info!(identifier = %&digest[..16], attempt = attempt.as_str(), "rate limited per identifier");
    }
    result
}

/// Counts an authenticated `/v1` request against the instance's limit, when one is configured.
/// `GET /v1/jwks` is exempt, as at Clerk (verifiers fetch it on key rotation).
pub async fn check_bapi(state: &AppState, path: &str) -> ApiResult<()> {
    let exempt = matches!(path, "/jwks" | "/v1/jwks");
    if exempt || state.rate_limits.bapi.is_none() {
        return Ok(());
    }
    count(
        state,
        state.rate_limits.bapi,
        instance_key(&state.instance.id),
    )
    .await
}

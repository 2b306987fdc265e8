//! Session-token verification without a network round trip per request.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::sync::RwLock;

use roster_proto::JwksJson;

use crate::{Client, Error};

/// The claims of a verified session token; `C` holds your custom claims (those of the instance's
/// session-claims template), flattened beside the standard ones.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionClaims<C = Map<String, Value>> {
    /// The user id.
    pub sub: String,
    /// The session id (absent in JWT-template tokens).
    pub sid: Option<String>,
    pub iss: String,
    pub iat: i64,
    pub exp: i64,
    pub nbf: Option<i64>,
    /// The origin the token was minted for (Frontend API tokens).
    pub azp: Option<String>,
    #[serde(flatten)]
    pub custom: C,
}

/// Why a token was refused.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("the token is not a well-formed RS256 JWT: {0}")]
    Malformed(String),
    #[error("no published key has kid {0}")]
    UnknownKey(String),
    #[error("the signature does not verify")]
    Signature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token was issued in the future")]
    IssuedInFuture,
    #[error("the token's azp {0:?} is not an authorized party")]
    UnauthorizedParty(Option<String>),
    #[error("the JWKS could not be fetched: {0}")]
    Jwks(#[from] Error),
}

struct KeyCache {
    keys: HashMap<String, DecodingKey>,
    fetched_at: Option<Instant>,
}

/// Verifies session tokens against the instance's public keys, fetched once and cached. An
/// unknown `kid` (after a key rotation) triggers a refetch, at most once per refetch interval.
#[derive(Clone)]
pub struct Verifier {
    client: Option<Client>,
    cache: Arc<RwLock<KeyCache>>,
    refetch_interval: Duration,
    clock_skew: u64,
    authorized_parties: Vec<String>,
}

fn decoding_keys(jwks: &JwksJson) -> HashMap<String, DecodingKey> {
    jwks.keys
        .iter()
        .filter(|k| k.kty == "RSA")
        .filter_map(|k| {
            Some((
                k.kid.clone(),
                DecodingKey::from_rsa_components(&k.n, &k.e).ok()?,
            ))
        })
        .collect()
}

fn now_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl Verifier {
    pub(crate) fn from_client(client: Client) -> Verifier {
        Verifier {
            client: Some(client),
            cache: Arc::new(RwLock::new(KeyCache {
                keys: HashMap::new(),
                fetched_at: None,
            })),
            refetch_interval: Duration::from_secs(60),
            clock_skew: 5,
            authorized_parties: Vec::new(),
        }
    }

    /// A verifier with keys given up front (no network at all).
    pub fn from_jwks(jwks: &JwksJson) -> Verifier {
        Verifier {
            client: None,
            cache: Arc::new(RwLock::new(KeyCache {
                keys: decoding_keys(jwks),
                fetched_at: Some(Instant::now()),
            })),
            refetch_interval: Duration::MAX,
            clock_skew: 5,
            authorized_parties: Vec::new(),
        }
    }

    /// Only tokens whose `azp` is one of these origins pass (tokens without `azp` fail).
    pub fn with_authorized_parties(
        mut self,
        parties: impl IntoIterator<Item = impl Into<String>>,
    ) -> Verifier {
        self.authorized_parties = parties.into_iter().map(Into::into).collect();
        self
    }

    /// Leeway for `exp`, `nbf` and `iat`, in seconds (default 5).
    pub fn with_clock_skew(mut self, seconds: u64) -> Verifier {
        self.clock_skew = seconds;
        self
    }

    /// The shortest time between two JWKS fetches caused by unknown key ids (default 60 s).
    pub fn with_refetch_interval(mut self, interval: Duration) -> Verifier {
        self.refetch_interval = interval;
        self
    }

    async fn key(&self, kid: &str) -> Result<DecodingKey, VerifyError> {
        {
            let cache = self.cache.read().await;
            if let Some(key) = cache.keys.get(kid) {
                return Ok(key.clone());
            }
            let recently = cache
                .fetched_at
                .is_some_and(|t| t.elapsed() < self.refetch_interval);
            if recently || self.client.is_none() {
                return Err(VerifyError::UnknownKey(kid.to_owned()));
            }
        }
        let mut cache = self.cache.write().await;
        // Another task may have refetched while we waited for the lock.
        let recently = cache
            .fetched_at
            .is_some_and(|t| t.elapsed() < self.refetch_interval);
        if !recently {
            if let Some(client) = &self.client {
                let jwks = client.tokens().jwks().await?;
                cache.keys = decoding_keys(&jwks);
                cache.fetched_at = Some(Instant::now());
            }
        }
        cache
            .keys
            .get(kid)
            .cloned()
            .ok_or_else(|| VerifyError::UnknownKey(kid.to_owned()))
    }

    /// Verifies signature and times, and `azp` when authorized parties are set.
    pub async fn verify<C: DeserializeOwned>(
        &self,
        token: &str,
    ) -> Result<SessionClaims<C>, VerifyError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| VerifyError::Malformed(e.to_string()))?;
        if header.alg != Algorithm::RS256 {
            return Err(VerifyError::Malformed(format!(
                "algorithm {:?}",
                header.alg
            )));
        }
        let kid = header
            .kid
            .ok_or_else(|| VerifyError::Malformed("no kid in the header".into()))?;
        let key = self.key(&kid).await?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.leeway = self.clock_skew;
        validation.validate_nbf = true;
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp", "sub"]);
        let data =
            jsonwebtoken::decode::<SessionClaims<C>>(token, &key, &validation).map_err(|e| {
                use jsonwebtoken::errors::ErrorKind;
                match e.kind() {
                    ErrorKind::ExpiredSignature => VerifyError::Expired,
                    ErrorKind::ImmatureSignature => VerifyError::NotYetValid,
                    ErrorKind::InvalidSignature => VerifyError::Signature,
                    _ => VerifyError::Malformed(e.to_string()),
                }
            })?;
        let claims = data.claims;
        if claims.iat > now_s() + self.clock_skew as i64 {
            return Err(VerifyError::IssuedInFuture);
        }
        if !self.authorized_parties.is_empty()
            && !claims
                .azp
                .as_ref()
                .is_some_and(|a| self.authorized_parties.contains(a))
        {
            return Err(VerifyError::UnauthorizedParty(claims.azp));
        }
        Ok(claims)
    }
}

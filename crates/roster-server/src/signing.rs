//! RS256 signing keys: generated once (RSA-2048, e = 65537, so `@clerk/backend`'s networkless
//! `jwtKey` path works too), stored in the database and shared by every instance. The first key's
//! `kid` is the instance id, as with Clerk. `roster keys rotate` adds a key and retires the others;
//! a retired key stays in the JWKS until the last token it signed has expired.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use base64::Engine;
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde_json::{Map, Value};

use roster_proto::{JwkJson, JwksJson};
use roster_store::{SigningKeyRecord, Store};

use crate::error::ApiError;

/// How often a process re-reads the keys, to follow rotations made elsewhere.
const REFRESH: Duration = Duration::from_secs(30);
/// When a token outlives the stored `max_exp`, the store is told `exp` plus this much, so that
/// with 60-second tokens minting writes at most once every few minutes.
const EXP_NOTE_SLACK_S: i64 = 300;

struct ActiveKey {
    kid: String,
    /// Parsed once: parsing (and checking) an RSA key costs about as much as a signature.
    key_pair: Arc<RsaKeyPair>,
    /// The `max_exp` this process last wrote for the key.
    noted_exp: i64,
}

/// The `cat` header Clerk puts on tokens, so that a JWT-template token cannot pass as a session
/// token (`@clerk/backend`'s `authenticateRequest` refuses non-session categories).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenCategory {
    Session,
    Template,
}

impl TokenCategory {
    fn tag(self) -> &'static str {
        match self {
            Self::Session => "cl_B7d4PD111AAA",
            Self::Template => "cl_B7d4PD222AAA",
        }
    }
}

/// Signs tokens with the newest unretired key and serves the JWKS.
pub struct Signer {
    store: Arc<dyn Store>,
    active: RwLock<(Arc<ActiveKey>, Instant)>,
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(e.to_string())
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A new RSA-2048 key as PKCS#1 DER. CPU-heavy: call it off the async executor.
pub fn generate_key() -> anyhow::Result<Vec<u8>> {
    let key = RsaPrivateKey::new(&mut rand::thread_rng(), 2048)?;
    Ok(key.to_pkcs1_der()?.as_bytes().to_vec())
}

fn jwk(record: &SigningKeyRecord) -> Option<JwkJson> {
    let key = RsaPrivateKey::from_pkcs1_der(&record.private_key).ok()?;
    Some(JwkJson {
        use_: "sig".into(),
        kty: "RSA".into(),
        kid: record.kid.clone(),
        alg: "RS256".into(),
        n: b64(&key.n().to_bytes_be()),
        e: b64(&key.e().to_bytes_be()),
    })
}

fn newest_active(keys: &[SigningKeyRecord]) -> Option<&SigningKeyRecord> {
    keys.iter()
        .filter(|k| k.retired_at.is_none())
        .max_by(|a, b| (a.created_at, &a.kid).cmp(&(b.created_at, &b.kid)))
}

async fn load_active(store: &Arc<dyn Store>) -> Result<ActiveKey, ApiError> {
    let keys = store.signing_keys().await?;
    let record = newest_active(&keys).ok_or_else(|| internal("no active signing key"))?;
    Ok(ActiveKey {
        kid: record.kid.clone(),
        key_pair: Arc::new(RsaKeyPair::from_der(&record.private_key).map_err(internal)?),
        noted_exp: record.max_exp,
    })
}

impl Signer {
    /// Loads the keys, creating the first one (kid = the instance id) on a new database.
    pub async fn load_or_create(
        store: Arc<dyn Store>,
        instance_id: &str,
        now_ms: i64,
    ) -> anyhow::Result<Signer> {
        if newest_active(&store.signing_keys().await?).is_none() {
            let der = tokio::task::spawn_blocking(generate_key).await??;
            // Racing first starts insert under the same kid; one wins and all load it.
            store
                .add_signing_key(SigningKeyRecord {
                    kid: instance_id.to_owned(),
                    private_key: der,
                    created_at: now_ms,
                    retired_at: None,
                    max_exp: 0,
                })
                .await?;
        }
        let active = load_active(&store)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(Signer {
            store,
            active: RwLock::new((Arc::new(active), Instant::now())),
        })
    }

    /// The public half of the key tokens are signed with now, as a PEM `PUBLIC KEY`: what Clerk's
    /// dashboard calls the JWT public key, for networkless verification (`CLERK_JWT_KEY`,
    /// `jwtKey`, Python's `jwt_key`). A rotation replaces it.
    pub async fn public_key_pem(store: &Arc<dyn Store>) -> anyhow::Result<String> {
        let keys = store.signing_keys().await?;
        let record = newest_active(&keys)
            .ok_or_else(|| anyhow::anyhow!("the instance has no signing key"))?;
        let key = RsaPrivateKey::from_pkcs1_der(&record.private_key)?;
        Ok(key.to_public_key().to_public_key_pem(LineEnding::LF)?)
    }

    /// Adds a new key and retires the others. Returns the new kid.
    pub async fn rotate(store: &Arc<dyn Store>, now_ms: i64) -> anyhow::Result<String> {
        let der = tokio::task::spawn_blocking(generate_key).await??;
        let kid = roster_domain::ids::new_id("ins", now_ms);
        store
            .add_signing_key(SigningKeyRecord {
                kid: kid.clone(),
                private_key: der,
                created_at: now_ms,
                retired_at: None,
                max_exp: 0,
            })
            .await?;
        store.retire_signing_keys_except(&kid, now_ms).await?;
        Ok(kid)
    }

    async fn current(&self) -> Result<Arc<ActiveKey>, ApiError> {
        {
            let guard = self.active.read().map_err(internal)?;
            if guard.1.elapsed() < REFRESH {
                return Ok(Arc::clone(&guard.0));
            }
        }
        let fresh = Arc::new(load_active(&self.store).await?);
        let mut guard = self.active.write().map_err(internal)?;
        *guard = (Arc::clone(&fresh), Instant::now());
        Ok(fresh)
    }

    /// A compact RS256 JWS of the claims; the header has `alg`, `cat`, `kid` and `typ: JWT`.
    pub async fn sign(
        &self,
        claims: &Map<String, Value>,
        category: TokenCategory,
    ) -> Result<String, ApiError> {
        let key = self.current().await?;
        let header = serde_json::json!({"alg": "RS256", "cat": category.tag(), "kid": key.kid, "typ": "JWT"});
        let header = b64(&serde_json::to_vec(&header).map_err(internal)?);
        let payload = b64(&serde_json::to_vec(claims).map_err(internal)?);
        let signing_input = format!("{header}.{payload}");
        let mut signature = vec![0; key.key_pair.public().modulus_len()];
        key.key_pair
            .sign(
                &RSA_PKCS1_SHA256,
                &ring::rand::SystemRandom::new(),
                signing_input.as_bytes(),
                &mut signature,
            )
            .map_err(internal)?;
        let signature = b64(&signature);
        let jwt = format!("{signing_input}.{signature}");
        let exp = claims.get("exp").and_then(Value::as_i64).unwrap_or(0);
        if exp > key.noted_exp {
            self.store
                .note_signing_exp(&key.kid, exp + EXP_NOTE_SLACK_S)
                .await?;
            let mut guard = self.active.write().map_err(internal)?;
            if guard.0.kid == key.kid {
                let refreshed = ActiveKey {
                    kid: key.kid.clone(),
                    key_pair: Arc::clone(&key.key_pair),
                    noted_exp: exp + EXP_NOTE_SLACK_S,
                };
                guard.0 = Arc::new(refreshed);
            }
        }
        Ok(jwt)
    }

    /// The published keys: every unretired key, and retired ones while tokens they signed live.
    pub async fn jwks(&self, now_s: i64) -> Result<JwksJson, ApiError> {
        let keys = self.store.signing_keys().await?;
        Ok(JwksJson {
            keys: keys
                .iter()
                .filter(|k| k.retired_at.is_none() || k.max_exp > now_s)
                .filter_map(jwk)
                .collect(),
        })
    }
}

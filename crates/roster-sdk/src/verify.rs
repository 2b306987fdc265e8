//! Session-token verification without a network round trip per request.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::sync::RwLock;

use roster_proto::JwksJson;

use crate::{Client, Error};

/// The claims of a verified token. Times are unix seconds.
///
/// `C` receives every other claim, flattened beside the standard ones: your custom session
/// claims (see [`Tokens::set_session_claims`](crate::Tokens::set_session_claims)) or a JWT
/// template's claims. Use your own `Deserialize` type, or the default map, which also keeps
/// Clerk's extras (`jti`, `v`, `fva`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionClaims<C = Map<String, Value>> {
    /// The user id.
    pub sub: String,
    /// The session id (absent in JWT-template tokens).
    pub sid: Option<String>,
    /// The issuer: the instance's Frontend API URL (`…/fapi`). Not checked by [`Verifier`].
    pub iss: String,
    /// When the token was issued.
    pub iat: i64,
    /// When the token expires.
    pub exp: i64,
    /// The token is not valid before this (Roster sets `iat` minus the allowed clock skew).
    pub nbf: Option<i64>,
    /// The origin the token was minted for (Frontend API tokens); see
    /// [`Verifier::with_authorized_parties`].
    pub azp: Option<String>,
    /// All other claims.
    #[serde(flatten)]
    pub custom: C,
}

/// Why a token was refused.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// Not a JWT, not RS256, no `kid` in the header, or claims that do not fit
    /// `SessionClaims<C>` (a missing `sub` or `exp`, or custom claims your `C` cannot take).
    #[error("the token is not a well-formed RS256 JWT: {0}")]
    Malformed(String),
    /// No known key has the token's `kid`: a token of another instance, or of a key the
    /// verifier does not have (a [`Verifier::from_jwks`] never refetches).
    #[error("no published key has kid {0}")]
    UnknownKey(String),
    /// The signature does not match: the token was altered, or signed by another key.
    #[error("the signature does not verify")]
    Signature,
    /// `exp` has passed (beyond the clock skew).
    #[error("the token has expired")]
    Expired,
    /// `nbf` is still in the future (beyond the clock skew).
    #[error("the token is not valid yet")]
    NotYetValid,
    /// `iat` is in the future (beyond the clock skew).
    #[error("the token was issued in the future")]
    IssuedInFuture,
    /// Authorized parties are set, and the token's `azp` (shown) is absent or not among them.
    #[error("the token's azp {0:?} is not an authorized party")]
    UnauthorizedParty(Option<String>),
    /// The JWKS could not be fetched (only a verifier from [`Client::verifier`] fetches).
    #[error("the JWKS could not be fetched: {0}")]
    Jwks(#[from] Error),
}

struct KeyCache {
    keys: HashMap<String, Arc<DecodingKey>>,
    fetched_at: Option<Instant>,
}

/// Verifies Roster's tokens (session tokens and JWT-template tokens) in your service, without a
/// call to Roster per request.
///
/// A verifier from [`Client::verifier`] fetches the instance's JWKS on first use and caches it;
/// a token with an unknown `kid` (after a key rotation) triggers a refetch, at most once per
/// [refetch interval](Verifier::with_refetch_interval). One from [`Verifier::from_jwks`] has its
/// keys up front and never touches the network. Clones share the key cache: build one per
/// process and clone it into your handlers.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # if std::env::var("ROSTER_API_URL").is_err() { return Ok(()) }
/// use roster_sdk::{Client, CreateUser, SessionClaims, Verifier};
///
/// let roster = Client::from_env()?;
/// let verifier: Verifier = roster.verifier();
///
/// let user = roster.users().create(&CreateUser::default()).await?;
/// let session = roster.sessions().create(&user.id).await?;
/// let token = roster.sessions().token(&session.id, None, None).await?;
///
/// // The first verification fetches the JWKS; later ones are local.
/// let claims: SessionClaims = verifier.verify(&token).await?;
/// assert_eq!(claims.sub, user.id);
/// assert_eq!(claims.sid.as_deref(), Some(session.id.as_str()));
/// assert!(verifier.verify::<serde_json::Value>(&format!("{token}x")).await.is_err());
/// # roster.users().delete(&user.id).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Verifier {
    client: Option<Client>,
    cache: Arc<RwLock<KeyCache>>,
    refetch_interval: Duration,
    clock_skew: u64,
    authorized_parties: Vec<String>,
}

fn decoding_keys(jwks: &JwksJson) -> HashMap<String, Arc<DecodingKey>> {
    jwks.keys
        .iter()
        .filter(|k| k.kty == "RSA")
        .filter_map(|k| {
            Some((
                k.kid.clone(),
                Arc::new(DecodingKey::from_rsa_components(&k.n, &k.e).ok()?),
            ))
        })
        .collect()
}

/// The parts of a JOSE header verification needs.
#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
}

fn b64(part: &str) -> Result<Vec<u8>, VerifyError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|e| VerifyError::Malformed(format!("base64: {e}")))
}

/// The length of `header.payload`, the signed part of a compact JWS.
fn header_and_payload_len(token: &str) -> usize {
    token.rfind('.').unwrap_or(0)
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

    /// A verifier with keys given up front, e.g. a JWKS saved from
    /// [`Tokens::jwks`](crate::Tokens::jwks) into your configuration: it never touches the
    /// network, and after a key rotation it refuses new tokens with [`VerifyError::UnknownKey`]
    /// until you give it the new JWKS. Non-RSA keys are ignored.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # // A throwaway key pair (testdata/): its private half stands in for Roster's signing key.
    /// # let pem = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/doc-signing-key.pem"));
    /// # let jwks_json = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/jwks.json"));
    /// # let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() as i64;
    /// # let sign = |iat: i64, claims: serde_json::Value| {
    /// #     let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    /// #     header.kid = Some("ins_doc_example".into());
    /// #     let mut claims = claims;
    /// #     claims["iss"] = "https://roster.example.com/fapi".into();
    /// #     claims["iat"] = iat.into();
    /// #     claims["nbf"] = (iat - 5).into();
    /// #     claims["exp"] = (iat + 60).into();
    /// #     jsonwebtoken::encode(&header, &claims, &jsonwebtoken::EncodingKey::from_rsa_pem(pem)?)
    /// # };
    /// # let token = sign(now, serde_json::json!({ "sub": "user_123", "sid": "sess_456", "role": "admin" }))?;
    /// # let expired = sign(now - 3600, serde_json::json!({ "sub": "user_123", "sid": "sess_456" }))?;
    /// use roster_sdk::{Verifier, VerifyError};
    /// use serde::Deserialize;
    ///
    /// // The instance's JWKS, as `GET /v1/jwks` returns it.
    /// let jwks = serde_json::from_str(jwks_json)?;
    /// let verifier = Verifier::from_jwks(&jwks);
    ///
    /// #[derive(Deserialize)]
    /// struct AppClaims {
    ///     role: Option<String>,
    /// }
    /// let claims = verifier.verify::<AppClaims>(&token).await?;
    /// assert_eq!((claims.sub.as_str(), claims.sid.as_deref()), ("user_123", Some("sess_456")));
    /// assert_eq!(claims.custom.role.as_deref(), Some("admin"));
    ///
    /// let refused = verifier.verify::<AppClaims>(&expired).await;
    /// assert!(matches!(refused, Err(VerifyError::Expired)));
    ///
    /// // This token was not minted for a browser origin, so it has no `azp`.
    /// let strict = verifier.with_authorized_parties(["https://app.example.com"]);
    /// let refused = strict.verify::<AppClaims>(&token).await;
    /// assert!(matches!(refused, Err(VerifyError::UnauthorizedParty(None))));
    /// # Ok(()) }
    /// ```
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

    /// Only tokens whose `azp` is one of these origins (e.g. `https://app.example.com`) pass;
    /// tokens without `azp` fail too. Set it when tokens reach you from browsers, so that a token
    /// minted for another site cannot be replayed against you. Default: `azp` is not checked.
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

    async fn key(&self, kid: &str) -> Result<Arc<DecodingKey>, VerifyError> {
        {
            let cache = self.cache.read().await;
            if let Some(key) = cache.keys.get(kid) {
                return Ok(Arc::clone(key));
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

    /// Verifies a token and decodes its claims, custom ones into `C`.
    ///
    /// Checks that it is an RS256 JWT signed by a known key (by `kid`), that `exp`, `nbf` and
    /// `iat` hold within the clock skew, and `azp` when authorized parties are set. `aud` and
    /// `iss` are not checked. See [`Verifier::from_jwks`] for an example.
    pub async fn verify<C: DeserializeOwned>(
        &self,
        token: &str,
    ) -> Result<SessionClaims<C>, VerifyError> {
        // Split and check the token by hand: jsonwebtoken's `decode` parses the header twice and
        // builds its validation anew per call, which measurably slows a hot verification path.
        let malformed = |what: &str| VerifyError::Malformed(what.to_owned());
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed("not three dot-separated parts"));
        };
        let header: Header = serde_json::from_slice(&b64(header)?)
            .map_err(|e| VerifyError::Malformed(format!("header: {e}")))?;
        if header.alg != "RS256" {
            return Err(VerifyError::Malformed(format!("algorithm {}", header.alg)));
        }
        let kid = header
            .kid
            .ok_or_else(|| malformed("no kid in the header"))?;
        let key = self.key(&kid).await?;
        let signed = &token[..header_and_payload_len(token)];
        let verified =
            jsonwebtoken::crypto::verify(signature, signed.as_bytes(), &key, Algorithm::RS256)
                .map_err(|e| VerifyError::Malformed(e.to_string()))?;
        if !verified {
            return Err(VerifyError::Signature);
        }
        let claims: SessionClaims<C> = serde_json::from_slice(&b64(payload)?)
            .map_err(|e| VerifyError::Malformed(format!("claims: {e}")))?;
        let now = now_s();
        let skew = self.clock_skew as i64;
        if claims.exp < now - skew {
            return Err(VerifyError::Expired);
        }
        if claims.nbf.is_some_and(|nbf| nbf > now + skew) {
            return Err(VerifyError::NotYetValid);
        }
        if claims.iat > now + skew {
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

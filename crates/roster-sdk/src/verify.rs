//! Session-token verification without a network round trip per request.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

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
    /// Encoded headers of tokens that verified, with their key. An instance's tokens share a
    /// few headers, so recognising one spares decoding it, parsing it and looking up its key.
    verified_headers: Vec<(String, Arc<DecodingKey>)>,
    fetched_at: Option<Instant>,
}

/// Room for every header an instance signs with: one per key and token category.
const MAX_VERIFIED_HEADERS: usize = 16;

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
    /// Read by every verification, so a plain lock, never held across an await.
    cache: Arc<RwLock<KeyCache>>,
    /// Held while the JWKS is fetched, so that concurrent misses fetch it once.
    fetching: Arc<tokio::sync::Mutex<()>>,
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

/// The parts of a JOSE header verification needs, borrowed unless escaped.
#[derive(Deserialize)]
struct Header<'a> {
    #[serde(borrow)]
    alg: Cow<'a, str>,
    #[serde(borrow)]
    kid: Option<Cow<'a, str>>,
}

fn b64(part: &str) -> Result<Vec<u8>, VerifyError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|e| VerifyError::Malformed(format!("base64: {e}")))
}

/// Decodes a JSON part of a token. UTF-8 is checked here, once, so that serde_json need not
/// check every string it reads (as `from_slice` does).
fn json<'a, T: Deserialize<'a>>(what: &str, decoded: &'a [u8]) -> Result<T, VerifyError> {
    let text =
        std::str::from_utf8(decoded).map_err(|e| VerifyError::Malformed(format!("{what}: {e}")))?;
    serde_json::from_str(text).map_err(|e| VerifyError::Malformed(format!("{what}: {e}")))
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
                verified_headers: Vec::new(),
                fetched_at: None,
            })),
            fetching: Arc::default(),
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
                verified_headers: Vec::new(),
                fetched_at: Some(Instant::now()),
            })),
            fetching: Arc::default(),
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

    // No write to the cache can stop half-way (each is one assignment, clear or push), so a lock
    // poisoned by a panic elsewhere still guards a consistent cache.
    fn read_cache(&self) -> RwLockReadGuard<'_, KeyCache> {
        self.cache.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write_cache(&self) -> RwLockWriteGuard<'_, KeyCache> {
        self.cache.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn cached_key(&self, kid: &str) -> Option<Arc<DecodingKey>> {
        self.read_cache().keys.get(kid).cloned()
    }

    fn fetched_recently(&self) -> bool {
        self.read_cache()
            .fetched_at
            .is_some_and(|t| t.elapsed() < self.refetch_interval)
    }

    fn verified_header_key(&self, header: &str) -> Option<Arc<DecodingKey>> {
        let cache = self.read_cache();
        let (_, key) = cache.verified_headers.iter().find(|(h, _)| h == header)?;
        Some(Arc::clone(key))
    }

    fn remember_verified_header(&self, header: &str, key: &Arc<DecodingKey>) {
        let mut cache = self.write_cache();
        let known = cache.verified_headers.iter().any(|(h, _)| h == header);
        // A refetch may have dropped the key since this verification looked it up.
        let current = cache.keys.values().any(|k| Arc::ptr_eq(k, key));
        if !known && current && cache.verified_headers.len() < MAX_VERIFIED_HEADERS {
            cache
                .verified_headers
                .push((header.to_owned(), Arc::clone(key)));
        }
    }

    /// The key a (not yet verified) header names, once it is checked to be an RS256 one.
    async fn header_key(&self, header: &str) -> Result<Arc<DecodingKey>, VerifyError> {
        let header = b64(header)?;
        let header: Header = json("header", &header)?;
        if header.alg != "RS256" {
            return Err(VerifyError::Malformed(format!("algorithm {}", header.alg)));
        }
        let kid = header
            .kid
            .ok_or_else(|| VerifyError::Malformed("no kid in the header".to_owned()))?;
        self.key(&kid).await
    }

    async fn key(&self, kid: &str) -> Result<Arc<DecodingKey>, VerifyError> {
        if let Some(key) = self.cached_key(kid) {
            return Ok(key);
        }
        let unknown = || VerifyError::UnknownKey(kid.to_owned());
        let Some(client) = &self.client else {
            return Err(unknown());
        };
        if self.fetched_recently() {
            return Err(unknown());
        }
        let _fetching = self.fetching.lock().await;
        // Another task may have refetched while we waited for the lock.
        if !self.fetched_recently() {
            let keys = decoding_keys(&client.tokens().jwks().await?);
            let mut cache = self.write_cache();
            cache.keys = keys;
            cache.verified_headers.clear();
            cache.fetched_at = Some(Instant::now());
        }
        self.cached_key(kid).ok_or_else(unknown)
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
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(VerifyError::Malformed(
                "not three dot-separated parts".to_owned(),
            ));
        };
        let (key, header_remembered) = match self.verified_header_key(header) {
            Some(key) => (key, true),
            None => (self.header_key(header).await?, false),
        };
        let signed = &token[..header.len() + 1 + payload.len()];
        let verified =
            jsonwebtoken::crypto::verify(signature, signed.as_bytes(), &key, Algorithm::RS256)
                .map_err(|e| VerifyError::Malformed(e.to_string()))?;
        if !verified {
            return Err(VerifyError::Signature);
        }
        if !header_remembered {
            self.remember_verified_header(header, &key);
        }
        let claims: SessionClaims<C> = json("claims", &b64(payload)?)?;
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::json;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    const SIGNING_KEY: &[u8] = include_bytes!("../testdata/doc-signing-key.pem");
    const JWKS: &str = include_str!("../testdata/jwks.json");

    fn jwks() -> JwksJson {
        serde_json::from_str(JWKS).unwrap()
    }

    fn header(kid: &str) -> Value {
        json!({"alg": "RS256", "cat": "cl_B7d4PD111AAA", "kid": kid, "typ": "JWT"})
    }

    fn claims(sub: &str) -> Value {
        let now = now_s();
        json!({
            "sub": sub, "sid": "sess_1", "iss": "https://roster.example.com/fapi",
            "iat": now, "nbf": now - 5, "exp": now + 60, "jti": "j1", "v": 2, "fva": [0, -1],
        })
    }

    fn sign(header: &Value, claims: &Value) -> String {
        sign_json(&serde_json::to_vec(header).unwrap(), claims)
    }

    /// A compact JWS of exactly this header text and these claims, signed with the testdata key.
    fn sign_json(header: &[u8], claims: &Value) -> String {
        let claims = serde_json::to_vec(claims).unwrap();
        let signed = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        );
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(SIGNING_KEY).unwrap();
        let signature = jsonwebtoken::crypto::sign(signed.as_bytes(), &key, Algorithm::RS256);
        format!("{signed}.{}", signature.unwrap())
    }

    /// The signed part of `claimed` with the signature of `signed`.
    fn forge(claimed: &str, signed: &str) -> String {
        let (claimed, _) = claimed.rsplit_once('.').unwrap();
        let (_, signature) = signed.rsplit_once('.').unwrap();
        format!("{claimed}.{signature}")
    }

    fn remembered_headers(verifier: &Verifier) -> usize {
        verifier.read_cache().verified_headers.len()
    }

    #[tokio::test]
    async fn a_remembered_header_still_needs_a_valid_signature() {
        let verifier = Verifier::from_jwks(&jwks());
        let token = sign(&header("ins_doc_example"), &claims("user_1"));
        for _ in 0..2 {
            let verified: SessionClaims = verifier.verify(&token).await.unwrap();
            assert_eq!(verified.sub, "user_1");
            assert_eq!(verified.custom["jti"], "j1");
        }
        assert_eq!(remembered_headers(&verifier), 1);

        // The same header, another user's claims, the first token's signature.
        let other = sign(&header("ins_doc_example"), &claims("user_2"));
        let forged = forge(&other, &token);
        let refused = verifier.verify::<Value>(&forged).await;
        assert!(
            matches!(refused, Err(VerifyError::Signature)),
            "{refused:?}"
        );
    }

    #[tokio::test]
    async fn a_header_is_remembered_only_once_a_signature_verifies() {
        let verifier = Verifier::from_jwks(&jwks());
        let token = sign(&header("ins_doc_example"), &claims("user_1"));
        let other = sign(&header("ins_doc_example"), &claims("user_2"));
        let refused = verifier.verify::<Value>(&forge(&other, &token)).await;
        assert!(
            matches!(refused, Err(VerifyError::Signature)),
            "{refused:?}"
        );
        assert_eq!(remembered_headers(&verifier), 0);
    }

    #[tokio::test]
    async fn headers_must_name_a_known_rs256_key() {
        let verifier = Verifier::from_jwks(&jwks());
        let malformed = |header: Value| {
            let verifier = verifier.clone();
            async move {
                match verifier.verify::<Value>(&sign(&header, &claims("u"))).await {
                    Err(VerifyError::Malformed(why)) => why,
                    other => panic!("{other:?}"),
                }
            }
        };
        assert_eq!(
            malformed(json!({"alg": "HS256", "kid": "ins_doc_example"})).await,
            "algorithm HS256"
        );
        assert_eq!(
            malformed(json!({"alg": "RS256"})).await,
            "no kid in the header"
        );
        assert!(malformed(json!(["RS256"])).await.starts_with("header: "));

        let unknown = sign(&header("ins_other"), &claims("u"));
        let refused = verifier.verify::<Value>(&unknown).await;
        assert!(matches!(refused, Err(VerifyError::UnknownKey(kid)) if kid == "ins_other"));

        // Escaped, the alg and kid are not borrowed from the header, and still name the key.
        let escaped = br#"{"alg":"RS\u0032\u0035\u0036","kid":"ins_doc\u005fexample"}"#;
        let verified = verifier
            .verify::<Value>(&sign_json(escaped, &claims("u")))
            .await;
        assert_eq!(verified.unwrap().sub, "u");
    }

    #[tokio::test]
    async fn claims_that_do_not_fit_are_malformed() {
        #[derive(Debug, Deserialize)]
        struct Versioned {
            #[allow(dead_code)]
            v: String,
        }
        let verifier = Verifier::from_jwks(&jwks());
        let mut no_sub = claims("u");
        no_sub.as_object_mut().unwrap().remove("sub");
        let refused = verifier
            .verify::<Value>(&sign(&header("ins_doc_example"), &no_sub))
            .await;
        assert!(
            matches!(&refused, Err(VerifyError::Malformed(why)) if why.starts_with("claims: missing field `sub`")),
            "{refused:?}"
        );
        let refused = verifier
            .verify::<Versioned>(&sign(&header("ins_doc_example"), &claims("u")))
            .await;
        assert!(
            matches!(&refused, Err(VerifyError::Malformed(why)) if why.starts_with("claims: invalid type")),
            "{refused:?}"
        );
    }

    /// Serves the testdata JWKS over HTTP on a loopback port, counting requests.
    async fn jwks_server() -> (String, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&requests);
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let counted = Arc::clone(&counted);
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0; 1024];
                    while !head.ends_with(b"\r\n\r\n") {
                        let n = stream.read(&mut buf).await.unwrap();
                        assert!(n > 0, "the request ended early");
                        head.extend_from_slice(&buf[..n]);
                    }
                    counted.fetch_add(1, Ordering::SeqCst);
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                         content-length: {}\r\nconnection: close\r\n\r\n{JWKS}",
                        JWKS.len()
                    );
                    stream.write_all(response.as_bytes()).await.unwrap();
                });
            }
        });
        (url, requests)
    }

    #[tokio::test]
    async fn unknown_kids_refetch_at_most_once_per_interval() {
        let (url, requests) = jwks_server().await;
        let verifier = Client::new(url, "sk_test_verify").unwrap().verifier();
        let token = sign(&header("ins_doc_example"), &claims("u"));
        let unknown = sign(&header("ins_other"), &claims("u"));

        verifier.verify::<Value>(&token).await.unwrap();
        verifier.verify::<Value>(&token).await.unwrap();
        assert_eq!(requests.load(Ordering::SeqCst), 1);
        let refused = verifier.verify::<Value>(&unknown).await;
        assert!(
            matches!(refused, Err(VerifyError::UnknownKey(_))),
            "{refused:?}"
        );
        assert_eq!(requests.load(Ordering::SeqCst), 1);

        let eager = verifier.with_refetch_interval(Duration::ZERO);
        let refused = eager.verify::<Value>(&unknown).await;
        assert!(
            matches!(refused, Err(VerifyError::UnknownKey(_))),
            "{refused:?}"
        );
        assert_eq!(requests.load(Ordering::SeqCst), 2);
        // The refetch forgot the remembered header; the key is still there.
        assert_eq!(remembered_headers(&eager), 0);
        eager.verify::<Value>(&token).await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_misses_fetch_the_jwks_once() {
        let (url, requests) = jwks_server().await;
        let verifier = Client::new(url, "sk_test_verify").unwrap().verifier();
        let token = sign(&header("ins_doc_example"), &claims("u"));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let (verifier, token) = (verifier.clone(), token.clone());
            tasks.spawn(async move { verifier.verify::<Value>(&token).await.map(|_| ()) });
        }
        while let Some(verified) = tasks.join_next().await {
            verified.unwrap().unwrap();
        }
        assert_eq!(requests.load(Ordering::SeqCst), 1);
    }
}

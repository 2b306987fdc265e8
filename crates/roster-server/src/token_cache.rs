//! Recently minted session tokens, reused in Frontend API responses.
//!
//! Every Frontend API response carries the client, and each active session in it carries a
//! `last_active_token`. Minting one per response meant an RSA signature (about a millisecond of
//! CPU) on every `GET /fapi/v1/me`. A token minted in the last [`REUSE_MS`] for the same session,
//! origin and user version is reused instead, as Clerk does: any change to the user (a new
//! `updated_at`) mints afresh, so claims built from metadata are never staler than that, and a
//! reused token still has most of its minute to live. Explicit token requests
//! (`POST …/tokens`) always mint.

use std::collections::HashMap;
use std::sync::Mutex;

/// How long a minted token is handed out again.
pub const REUSE_MS: i64 = 10_000;
/// Entries kept at most, and their bytes (tokens carry custom claims, keys an origin); past
/// either, expired entries go, and if that is not enough the cache starts over (it is only a
/// cache). The byte bound keeps a client that varies its `Origin` from filling memory.
const CAPACITY: usize = 50_000;
const CAPACITY_BYTES: usize = 32 << 20;

#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    session_id: String,
    origin: Option<String>,
    user_updated_at: i64,
}

impl Key {
    fn new(session_id: &str, origin: Option<&str>, user_updated_at: i64) -> Key {
        Key {
            session_id: session_id.to_owned(),
            origin: origin.map(str::to_owned),
            user_updated_at,
        }
    }

    fn bytes(&self, jwt: &str) -> usize {
        self.session_id.len() + self.origin.as_ref().map_or(0, String::len) + jwt.len()
    }
}

#[derive(Default)]
pub struct TokenCache {
    tokens: Mutex<Tokens>,
}

#[derive(Default)]
struct Tokens {
    by_key: HashMap<Key, (i64, String)>,
    /// What the entries hold, as [`Key::bytes`] counts it.
    bytes: usize,
}

impl TokenCache {
    /// A token minted for this session, origin and user version less than [`REUSE_MS`] ago.
    pub fn get(
        &self,
        session_id: &str,
        origin: Option<&str>,
        user_updated_at: i64,
        now: i64,
    ) -> Option<String> {
        let tokens = self.tokens.lock().ok()?;
        tokens
            .by_key
            .get(&Key::new(session_id, origin, user_updated_at))
            .filter(|(minted, _)| now - minted < REUSE_MS && *minted <= now)
            .map(|(_, jwt)| jwt.clone())
    }

    pub fn put(
        &self,
        session_id: &str,
        origin: Option<&str>,
        user_updated_at: i64,
        now: i64,
        jwt: &str,
    ) {
        let Ok(mut tokens) = self.tokens.lock() else {
            return;
        };
        let key = Key::new(session_id, origin, user_updated_at);
        let size = key.bytes(jwt);
        let full = |t: &Tokens| t.by_key.len() >= CAPACITY || t.bytes + size > CAPACITY_BYTES;
        if full(&tokens) {
            tokens
                .by_key
                .retain(|_, (minted, _)| now - *minted < REUSE_MS);
            tokens.bytes = tokens.by_key.iter().map(|(k, (_, jwt))| k.bytes(jwt)).sum();
            if full(&tokens) {
                tokens.by_key.clear();
                tokens.bytes = 0;
            }
        }
        if let Some((_, old)) = tokens.by_key.insert(key.clone(), (now, jwt.to_owned())) {
            tokens.bytes -= key.bytes(&old);
        }
        tokens.bytes += size;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_within_the_window_for_the_same_user_version_only() {
        let cache = TokenCache::default();
        cache.put("sess_1", Some("http://a"), 100, 1_000, "jwt1");
        assert_eq!(
            cache
                .get("sess_1", Some("http://a"), 100, 1_000 + REUSE_MS - 1)
                .as_deref(),
            Some("jwt1")
        );
        assert_eq!(
            cache.get("sess_1", Some("http://a"), 100, 1_000 + REUSE_MS),
            None
        );
        assert_eq!(
            cache.get("sess_1", Some("http://a"), 101, 1_500),
            None,
            "user changed"
        );
        assert_eq!(
            cache.get("sess_1", Some("http://b"), 100, 1_500),
            None,
            "other origin"
        );
        assert_eq!(cache.get("sess_1", None, 100, 1_500), None);
        assert_eq!(cache.get("sess_2", Some("http://a"), 100, 1_500), None);
        assert_eq!(
            cache.get("sess_1", Some("http://a"), 100, 999),
            None,
            "clock went back"
        );
    }

    #[test]
    fn memory_stays_bounded_whatever_the_origins() {
        let cache = TokenCache::default();
        let jwt = "j".repeat(100_000);
        for i in 0..1_000 {
            cache.put("sess_1", Some(&format!("http://o{i}")), 1, 1_000, &jwt);
            let tokens = cache.tokens.lock().unwrap();
            let counted: usize = tokens.by_key.iter().map(|(k, (_, j))| k.bytes(j)).sum();
            assert_eq!(tokens.bytes, counted);
            assert!(tokens.bytes <= CAPACITY_BYTES, "{}", tokens.bytes);
        }
        // Putting the same key again replaces, and counts once.
        cache.put("sess_1", Some("http://o999"), 1, 1_001, "short");
        let tokens = cache.tokens.lock().unwrap();
        let counted: usize = tokens.by_key.iter().map(|(k, (_, j))| k.bytes(j)).sum();
        assert_eq!(tokens.bytes, counted);
    }
}

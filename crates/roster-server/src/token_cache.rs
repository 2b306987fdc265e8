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
/// Entries kept at most; past that the cache starts over (it is only a cache).
const CAPACITY: usize = 50_000;

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
}

#[derive(Default)]
pub struct TokenCache {
    tokens: Mutex<HashMap<Key, (i64, String)>>,
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
        if tokens.len() >= CAPACITY {
            tokens.retain(|_, (minted, _)| now - *minted < REUSE_MS);
            if tokens.len() >= CAPACITY {
                tokens.clear();
            }
        }
        tokens.insert(
            Key::new(session_id, origin, user_updated_at),
            (now, jwt.to_owned()),
        );
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
}

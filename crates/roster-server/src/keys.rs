//! Secret keys: minted at random, stored only as SHA-256 hashes, checked in constant time.

use std::sync::{Arc, RwLock};

use rand::distributions::Alphanumeric;
use rand::Rng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use roster_store::{Store, StoreResult};

/// A new secret key, `sk_test_` and 48 random alphanumerics (~285 bits).
pub fn mint_secret_key() -> String {
    let tail: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(48)
        .map(char::from)
        .collect();
    format!("sk_test_{tail}")
}

/// The stored form of a key.
pub fn hash_key(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// The known key hashes of the instance, cached in memory. A key minted by another process (or
/// by `roster keys create`) is found in the database on first use and cached from then on.
#[derive(Clone)]
pub struct KeyRing {
    store: Arc<dyn Store>,
    known: Arc<RwLock<Vec<[u8; 32]>>>,
}

impl KeyRing {
    pub async fn load(store: Arc<dyn Store>) -> StoreResult<KeyRing> {
        let known = store
            .secret_key_hashes()
            .await?
            .iter()
            .filter_map(|h| hex::decode(h).ok()?.try_into().ok())
            .collect();
        Ok(KeyRing {
            store,
            known: Arc::new(RwLock::new(known)),
        })
    }

    fn cached(&self, hash: &[u8; 32]) -> bool {
        let Ok(known) = self.known.read() else {
            return false;
        };
        // Compare against every key without stopping early.
        known
            .iter()
            .fold(subtle::Choice::from(0), |found, k| found | k.ct_eq(hash))
            .into()
    }

    /// True when `key` is a valid secret key of the instance.
    pub async fn verify(&self, key: &str) -> StoreResult<bool> {
        let hash = hash_key(key);
        if self.cached(&hash) {
            return Ok(true);
        }
        if self
            .store
            .secret_key_hash_exists(&hex::encode(hash))
            .await?
        {
            if let Ok(mut known) = self.known.write() {
                known.push(hash);
            }
            return Ok(true);
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_keys_look_like_clerk_keys() {
        let key = mint_secret_key();
        assert!(key.starts_with("sk_test_"));
        assert_eq!(key.len(), 8 + 48);
        assert_ne!(key, mint_secret_key());
    }
}

//! `GET /healthz`: is the server up and its database reachable. The database answer is reused for
//! a second, so that a load balancer (or a benchmark) polling hard measures the server, not a
//! round trip to the database per poll, and one probe at a time goes out while the database is
//! slow to answer.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use roster_store::{Store, StoreError};

/// How long a database probe's answer stands.
const FRESH: Duration = Duration::from_secs(1);

#[derive(Default)]
pub struct HealthProbe {
    /// When the database last answered, and whether it was healthy then (`Err` holds the cause).
    last: Mutex<Option<(Instant, Result<(), String>)>>,
    probing: AtomicBool,
}

impl HealthProbe {
    /// The database's health, probing it when the last answer is over a second old (or there is
    /// none). While one probe is out, other callers get the last answer.
    pub async fn check(&self, store: &dyn Store) -> Result<(), StoreError> {
        let cached = self.last.lock().ok().and_then(|l| l.clone());
        let stale = cached.as_ref().is_none_or(|(at, _)| at.elapsed() >= FRESH);
        let result = match cached {
            Some((_, answer)) if !stale || self.probing.swap(true, Ordering::AcqRel) => answer,
            _ => {
                self.probing.store(true, Ordering::Release);
                let answer = store.ping().await.map_err(|e| e.to_string());
                if let Ok(mut last) = self.last.lock() {
                    *last = Some((Instant::now(), answer.clone()));
                }
                self.probing.store(false, Ordering::Release);
                answer
            }
        };
        result.map_err(StoreError::Unavailable)
    }
}

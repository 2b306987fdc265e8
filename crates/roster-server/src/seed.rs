//! `roster seed`: loads synthetic users quickly, for trying Roster at scale and for benchmarks.
//!
//! Users look like an app's: names, one email each, a username, an external id, and metadata of a
//! few hundred bytes in every tier. Each run uses a fresh random tag in identifiers, so seeding
//! twice adds users rather than clashing.

use std::sync::Arc;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use rand::{Rng, SeedableRng};
use serde_json::json;

use roster_domain::user::NewUser;
use roster_domain::{ids, MetadataWrite, User};
use roster_store::Store;

const FIRST: &[&str] = &[
    "Ada",
    "Grace",
    "Alan",
    "Edsger",
    "Barbara",
    "Ken",
    "Margaret",
    "Donald",
    "Frances",
    "Dennis",
    "Radia",
    "Linus",
    "Katherine",
    "John",
    "Hedy",
    "Tim",
];
const LAST: &[&str] = &[
    "Lovelace",
    "Hopper",
    "Turing",
    "Dijkstra",
    "Liskov",
    "Thompson",
    "Hamilton",
    "Knuth",
    "Allen",
    "Ritchie",
    "Perlman",
    "Torvalds",
    "Johnson",
    "McCarthy",
    "Lamarr",
    "Berners-Lee",
];
const ROLES: &[&str] = &["member", "admin", "owner", "viewer", "billing"];
const PLANS: &[&str] = &["free", "starter", "pro", "enterprise"];

/// One synthetic user, number `n` of the run tagged `tag`.
pub fn synthetic_user(
    n: u64,
    tag: &str,
    now: i64,
    rng: &mut impl Rng,
) -> Result<User, roster_domain::DomainError> {
    let first = FIRST[rng.gen_range(0..FIRST.len())];
    let last = LAST[rng.gen_range(0..LAST.len())];
    let created_at = now - rng.gen_range(0..3 * 365 * 86_400_000i64);
    let new = NewUser {
        email_addresses: vec![(
            format!(
                "{}.{}.{tag}{n}@example.com",
                first.to_lowercase(),
                last.to_lowercase()
            ),
            true,
        )],
        username: Some(format!("{}_{tag}{n}", first.to_lowercase())),
        first_name: Some(first.into()),
        last_name: Some(last.into()),
        external_id: Some(format!("ext_{tag}_{n}")),
        created_at: Some(created_at),
        metadata: MetadataWrite {
            public: Some(json!({
                "role": ROLES[rng.gen_range(0..ROLES.len())],
                "plan": PLANS[rng.gen_range(0..PLANS.len())],
                "teams": (0..rng.gen_range(1..4)).map(|t| format!("team-{}", (n + t) % 50)).collect::<Vec<_>>(),
                "onboarded": rng.gen_bool(0.8),
            })),
            private: Some(json!({
                "stripe": {"customer_id": format!("cus_{tag}{n:08}"), "subscription": format!("sub_{:x}", rng.gen::<u64>())},
                "internal_score": rng.gen_range(0..1000),
                "notes": "Seeded by roster seed; this text pads the tier to a realistic size for benchmarks.",
            })),
            unsafe_: Some(json!({
                "birthday": format!("19{:02}-{:02}-{:02}", rng.gen_range(50..99), rng.gen_range(1..13), rng.gen_range(1..29)),
                "company": format!("{last} & Co"),
                "preferences": {"theme": if rng.gen_bool(0.5) { "dark" } else { "light" }, "newsletter": rng.gen_bool(0.3)},
            })),
        },
        ..NewUser::default()
    };
    User::create(new, created_at, |prefix| ids::new_id(prefix, created_at))
}

/// Inserts `count` synthetic users in batches, showing progress on stderr.
pub async fn seed(
    store: Arc<dyn Store>,
    count: u64,
    batch: usize,
    quiet: bool,
) -> anyhow::Result<()> {
    let tag: String = {
        let mut rng = rand::thread_rng();
        (0..4)
            .map(|_| char::from(b'a' + rng.gen_range(0..26)))
            .collect()
    };
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(count)
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} users  {per_sec}  eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let now = crate::routes::now_ms();
    let mut rng = rand::rngs::StdRng::from_entropy();
    let mut next = 0u64;
    // Build the next batch while the store writes the previous one.
    let mut pending: Option<tokio::task::JoinHandle<roster_store::StoreResult<()>>> = None;
    while next < count {
        let size = (count - next).min(batch as u64);
        let users = (next..next + size)
            .map(|n| synthetic_user(n, &tag, now, &mut rng))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(handle) = pending.take() {
            handle.await??;
        }
        let store = Arc::clone(&store);
        pending = Some(tokio::spawn(async move { store.insert_users(users).await }));
        next += size;
        bar.set_position(next);
    }
    if let Some(handle) = pending {
        handle.await??;
    }
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "seeded {count} users in {secs:.1} s ({:.0} users/s)",
        count as f64 / secs.max(0.001)
    );
    Ok(())
}

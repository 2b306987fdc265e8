#![allow(clippy::expect_used, clippy::unwrap_used)]
//! Crash safety (issue #8, "nothing lost"): concurrent Backend API writes, a SIGKILL at a random
//! moment, a restart on the same data directory with no repair, several times over.
//!
//! Every write that was acknowledged (a 2xx reached the client) must be there after the restart,
//! whole. A write that was not acknowledged may be there or not, but never in part, and once a
//! restart has shown it one way, later restarts show it the same way. Each write touches several
//! places at once (three metadata tiers, two keys in one of them) so that half of one is visible.
//! Merges pile onto a few users at a time, so concurrent read-modify-writes of one row are where
//! the kill lands.
//!
//! `ROSTER_CRASH_SEED` repeats a run's choices (kill times, write mix); the thread schedule
//! still varies.

mod support;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use support::Server;

const ROUNDS: u64 = 5;
const WRITERS: u64 = 16;
/// Kill after this many milliseconds of writing (uniformly chosen in the range).
const KILL_AFTER_MS: std::ops::Range<u64> = 200..1500;
/// Merges sent to one user at most, so its metadata stays well under the 8 KB limit.
const MERGES_PER_USER: usize = 100;
/// Merges go to the few oldest users that still take merges, so they race on the same rows.
const HOT_USERS: usize = 4;
/// The share of writes that create a user rather than merge into one.
const CREATE_SHARE: f64 = 0.2;

struct Create {
    tag: String,
    acked: bool,
    id: Option<String>,
}

struct Merge {
    user: String,
    key: String,
    acked: bool,
}

#[derive(Default)]
struct Ledger {
    creates: Vec<Create>,
    merges: Vec<Merge>,
    /// Users whose creation was acknowledged, with the number of merges sent to each.
    targets: Vec<(String, usize)>,
    /// 4xx answers. Every write here is valid, so any is a bug (in the test or the server).
    refused: Vec<String>,
    /// 5xx answers: the server reported a failure, so the write counts as not acknowledged.
    failed: usize,
    /// Unacknowledged writes (by tag) and whether the last restart showed them.
    resolved: HashMap<String, bool>,
}

enum Write {
    Create(usize),
    Merge(usize),
}

fn seed(var: &str) -> u64 {
    std::env::var(var)
        .ok()
        .map(|s| s.parse().expect("the seed is a u64"))
        .unwrap_or_else(rand::random)
}

fn http_client(server_secret: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {server_secret}").parse().unwrap(),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// Writes until the server goes away: creates and merges, each recorded before it is sent and
/// marked acknowledged when a 2xx comes back.
async fn writer(
    base: String,
    http: reqwest::Client,
    ledger: Arc<Mutex<Ledger>>,
    stop: Arc<AtomicBool>,
    round: u64,
    task: u64,
    seed: u64,
) {
    let mut rng = StdRng::seed_from_u64(seed ^ (round << 40) ^ (task << 20));
    let mut seq = 0u64;
    while !stop.load(Ordering::Relaxed) {
        seq += 1;
        let tag = format!("r{round}w{task:02}n{seq:05}");
        let (request, write) = {
            let mut l = ledger.lock().unwrap();
            let target = if rng.gen_bool(CREATE_SHARE) {
                None
            } else {
                let open: Vec<usize> = (0..l.targets.len())
                    .filter(|&i| l.targets[i].1 < MERGES_PER_USER)
                    .take(HOT_USERS)
                    .collect();
                (!open.is_empty()).then(|| open[rng.gen_range(0..open.len())])
            };
            match target {
                None => {
                    l.creates.push(Create {
                        tag: tag.clone(),
                        acked: false,
                        id: None,
                    });
                    let body = json!({
                        "external_id": tag,
                        "email_address": [format!("{tag}@crash.test")],
                        "public_metadata": {"c": {"a": tag, "b": tag}},
                        "private_metadata": {"c": tag},
                        "unsafe_metadata": {"c": tag},
                    });
                    (
                        http.post(format!("{base}/v1/users")).json(&body),
                        Write::Create(l.creates.len() - 1),
                    )
                }
                Some(i) => {
                    l.targets[i].1 += 1;
                    let user = l.targets[i].0.clone();
                    l.merges.push(Merge {
                        user: user.clone(),
                        key: tag.clone(),
                        acked: false,
                    });
                    let body = json!({
                        "public_metadata": {&tag: {"a": seq, "b": seq}},
                        "private_metadata": {&tag: seq},
                        "unsafe_metadata": {&tag: seq},
                    });
                    (
                        http.patch(format!("{base}/v1/users/{user}/metadata"))
                            .json(&body),
                        Write::Merge(l.merges.len() - 1),
                    )
                }
            }
        };
        let Ok(resp) = request.send().await else {
            break; // the server is gone
        };
        let status = resp.status();
        let text = resp.text().await;
        let mut l = ledger.lock().unwrap();
        if status.is_success() {
            // A 2xx status is the acknowledgement, even if the kill cut the body short.
            let id = text
                .ok()
                .and_then(|t| serde_json::from_str::<Value>(&t).ok())
                .and_then(|v| v["id"].as_str().map(str::to_owned));
            match write {
                Write::Create(i) => {
                    l.creates[i].acked = true;
                    l.creates[i].id = id.clone();
                    if let Some(id) = id {
                        l.targets.push((id, 0));
                    }
                }
                Write::Merge(i) => l.merges[i].acked = true,
            }
        } else if status.is_server_error() {
            l.failed += 1;
        } else {
            l.refused
                .push(format!("{status} for {tag}: {}", text.unwrap_or_default()));
        }
    }
}

/// Every user, in a stable order, checked against the count.
async fn all_users(server: &Server, http: &reqwest::Client) -> Vec<Value> {
    let mut users = Vec::new();
    loop {
        let page: Vec<Value> = http
            .get(server.v1(&format!(
                "/users?limit=500&offset={}&order_by=created_at",
                users.len()
            )))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let done = page.len() < 500;
        users.extend(page);
        if done {
            break;
        }
    }
    let count: Value = http
        .get(server.v1("/users/count"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(count["total_count"].as_u64(), Some(users.len() as u64));
    users
}

#[derive(Default)]
struct Findings {
    acked: usize,
    unacked_present: usize,
    unacked_absent: usize,
    losses: Vec<String>,
    partial: Vec<String>,
    flipped: Vec<String>,
    phantom: Vec<String>,
}

/// Compares what the restarted server holds with the ledger.
async fn check(server: &Server, http: &reqwest::Client, ledger: &Mutex<Ledger>) -> Findings {
    let users = all_users(server, http).await;
    let mut l = ledger.lock().unwrap();
    let mut f = Findings::default();
    let by_id: HashMap<&str, &Value> = users
        .iter()
        .map(|u| (u["id"].as_str().unwrap(), u))
        .collect();
    let mut by_tag: HashMap<&str, Vec<&Value>> = HashMap::new();
    for u in &users {
        by_tag
            .entry(u["external_id"].as_str().unwrap_or(""))
            .or_default()
            .push(u);
    }
    let mut outcomes: Vec<(String, bool)> = Vec::new();

    let known_tags: HashSet<&str> = l.creates.iter().map(|c| c.tag.as_str()).collect();
    for u in &users {
        let tag = u["external_id"].as_str().unwrap_or("");
        if !known_tags.contains(tag) {
            f.phantom
                .push(format!("user {} ({tag}) was never written", u["id"]));
        }
    }
    for c in &l.creates {
        let found = by_tag.get(c.tag.as_str()).cloned().unwrap_or_default();
        if found.len() > 1 {
            f.partial
                .push(format!("create {} applied {} times", c.tag, found.len()));
        }
        let user = found.first().copied();
        if let (Some(id), Some(u)) = (&c.id, user) {
            if u["id"] != id.as_str() {
                f.losses.push(format!(
                    "create {} acknowledged as {id}, found {}",
                    c.tag, u["id"]
                ));
            }
        }
        if let Some(u) = user {
            let whole = u["public_metadata"]["c"] == json!({"a": c.tag, "b": c.tag})
                && u["private_metadata"]["c"] == c.tag.as_str()
                && u["unsafe_metadata"]["c"] == c.tag.as_str()
                && u["email_addresses"][0]["email_address"] == format!("{}@crash.test", c.tag);
            if !whole {
                f.partial
                    .push(format!("create {} is not whole: {u}", c.tag));
            }
        }
        if c.acked {
            f.acked += 1;
            if user.is_none() {
                f.losses
                    .push(format!("acknowledged create {} is gone", c.tag));
            }
        } else {
            outcomes.push((c.tag.clone(), user.is_some()));
        }
    }

    let mut written: HashSet<(&str, &str)> = HashSet::new();
    for m in &l.merges {
        written.insert((m.user.as_str(), m.key.as_str()));
        let Some(u) = by_id.get(m.user.as_str()) else {
            f.losses
                .push(format!("user {} of merge {} is gone", m.user, m.key));
            continue;
        };
        let key = m.key.as_str();
        let public = &u["public_metadata"][key];
        let parts = [
            public.get("a").is_some(),
            public.get("b").is_some(),
            u["private_metadata"].get(key).is_some(),
            u["unsafe_metadata"].get(key).is_some(),
        ];
        let present = parts.iter().all(|&p| p);
        if parts.iter().any(|&p| p) && !present {
            f.partial.push(format!(
                "merge {key} into {} is half applied (public.a, public.b, private, unsafe: {parts:?})",
                m.user
            ));
        }
        if m.acked {
            f.acked += 1;
            if !present {
                f.losses
                    .push(format!("acknowledged merge {key} into {} is gone", m.user));
            }
        } else {
            outcomes.push((m.key.clone(), present));
        }
    }
    for u in &users {
        let id = u["id"].as_str().unwrap();
        for tier in ["public_metadata", "private_metadata", "unsafe_metadata"] {
            for key in u[tier].as_object().unwrap().keys() {
                if key != "c" && !written.contains(&(id, key.as_str())) {
                    f.phantom
                        .push(format!("{tier}.{key} of {id} was never written there"));
                }
            }
        }
    }

    for (tag, present) in outcomes {
        if present {
            f.unacked_present += 1;
        } else {
            f.unacked_absent += 1;
        }
        // `Server::kill` returns once the database is final (on PostgreSQL, once the killed
        // server's sessions have ended), so an outcome seen once is seen the same way forever.
        if let Some(before) = l.resolved.insert(tag.clone(), present) {
            if before != present {
                f.flipped.push(format!(
                    "unacknowledged write {tag} was {} at the last restart and is {} now",
                    if before { "there" } else { "absent" },
                    if present { "there" } else { "absent" }
                ));
            }
        }
    }
    f
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_survive_sigkill_whole() {
    let seed = seed("ROSTER_CRASH_SEED");
    let backend = if support::postgres_admin_url().is_some() {
        "postgres"
    } else {
        "sqlite"
    };
    println!("crash ({backend}): seed {seed} (set ROSTER_CRASH_SEED={seed} to repeat)");
    let mut rng = StdRng::seed_from_u64(seed);
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let mut server = Server::start_in(dir.path(), &[]);
    let mut kills = 0;
    let mut findings = Findings::default();

    for round in 0..ROUNDS {
        let http = http_client(&server.secret_key);
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..WRITERS)
            .map(|task| {
                tokio::spawn(writer(
                    server.url.clone(),
                    http.clone(),
                    ledger.clone(),
                    stop.clone(),
                    round,
                    task,
                    seed,
                ))
            })
            .collect();
        let kill_after = rng.gen_range(KILL_AFTER_MS);
        tokio::time::sleep(Duration::from_millis(kill_after)).await;
        server.kill();
        kills += 1;
        stop.store(true, Ordering::Relaxed);
        for w in writers {
            w.await.unwrap();
        }

        let restart = Instant::now();
        server = Server::start_in(dir.path(), &[]);
        let restarted_in = restart.elapsed();
        findings = check(&server, &http_client(&server.secret_key), &ledger).await;
        let l = ledger.lock().unwrap();
        println!(
            "crash ({backend}) round {round}: killed after {kill_after} ms, restarted in {} ms; \
             {} acknowledged so far, unacknowledged {} there / {} absent, 5xx {}; \
             losses {}, partial {}, flipped {}, phantom {}",
            restarted_in.as_millis(),
            findings.acked,
            findings.unacked_present,
            findings.unacked_absent,
            l.failed,
            findings.losses.len(),
            findings.partial.len(),
            findings.flipped.len(),
            findings.phantom.len(),
        );
        let problems: Vec<&String> = findings
            .losses
            .iter()
            .chain(&findings.partial)
            .chain(&findings.flipped)
            .chain(&findings.phantom)
            .chain(&l.refused)
            .take(20)
            .collect();
        assert!(
            problems.is_empty(),
            "seed {seed}, round {round} ({backend}):\n{problems:#?}"
        );
    }

    let l = ledger.lock().unwrap();
    let acked_creates = l.creates.iter().filter(|c| c.acked).count();
    let acked_merges = l.merges.iter().filter(|m| m.acked).count();
    println!(
        "crash ({backend}): {} acknowledged writes ({acked_creates} creates, {acked_merges} merges) \
         over {kills} kills, {} unacknowledged (at the kills), losses {}, partial {} ({:.1} s)",
        acked_creates + acked_merges,
        findings.unacked_present + findings.unacked_absent,
        findings.losses.len(),
        findings.partial.len(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(findings.losses.len(), 0);
    assert_eq!(findings.partial.len(), 0);
    // Not vacuous: writes of both kinds were acknowledged, and the kills caught some in flight.
    assert!(
        acked_creates > 0 && acked_merges > 0,
        "nothing was acknowledged"
    );
    assert!(
        findings.unacked_present + findings.unacked_absent > 0,
        "no kill landed while a write was in flight"
    );
    drop(l);
    server.stop();
}

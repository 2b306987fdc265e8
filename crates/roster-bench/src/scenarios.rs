//! The measured runs on one backend: ceilings, each endpoint at its peak and at half of it, a
//! latency sweep for the plot, in-process token verification, and the soak.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;
use rand::rngs::StdRng;
use rand::Rng;
use serde_json::{json, Value};

use crate::ceilings;
use crate::load::{self, LoadResult, MakeRequest};
use crate::server::{Roster, Storage};

const SECRET_KEY: &str = "sk_test_rosterbenchmarkkey000000000000000000000000";

pub struct Plan {
    pub backend: String,
    pub roster: PathBuf,
    pub storage: Storage,
    pub users: u64,
    pub seeded_in: Duration,
    pub duration: Duration,
    pub connections: usize,
    pub soak: Duration,
    pub only: Vec<String>,
}

/// One endpoint's numbers.
pub struct Measured {
    pub name: &'static str,
    pub peak: LoadResult,
    /// Server CPU in use during the peak run, in cores.
    pub cores: f64,
    pub peak_rss_mib: f64,
    /// Open loop at half the peak rate.
    pub half: Option<LoadResult>,
    /// The HTTP ceiling this run is compared with: the mean of `GET /healthz` measured just
    /// before and just after its peak run (`None` for `GET /healthz` itself).
    pub http_ceiling: Option<f64>,
}

/// Latency against throughput, for the plot: (achieved requests/s, p50 ms, p99 ms).
pub struct Sweep {
    pub name: &'static str,
    pub points: Vec<(f64, f64, f64)>,
}

pub struct Soak {
    pub seconds: f64,
    pub requests: u64,
    pub failures: u64,
    pub server_errors: u64,
    pub per_second: f64,
    pub p99_ms: f64,
    /// RSS sampled once a second (MiB).
    pub rss_mib: Vec<f64>,
}

pub struct BackendRun {
    pub backend: String,
    pub users: u64,
    pub seeded_in: Duration,
    pub startup: Duration,
    pub idle_rss_mib: f64,
    pub max_rss_mib: f64,
    /// One durable read-modify-write transaction per operation, driven directly.
    pub storage_ceiling: f64,
    pub storage_ceiling_note: &'static str,
    pub endpoints: Vec<Measured>,
    pub sweeps: Vec<Sweep>,
    /// SDK `Verifier::verify` calls per second on one thread.
    pub sdk_verifies_per_s: f64,
    /// The RSA ceilings, each measured just before the run it bounds.
    pub crypto: ceilings::Crypto,
    pub soak: Option<Soak>,
}

impl BackendRun {
    pub fn failures(&self) -> u64 {
        self.endpoints
            .iter()
            .map(|m| m.peak.failures + m.half.as_ref().map_or(0, |h| h.failures))
            .sum::<u64>()
            + self.soak.as_ref().map_or(0, |s| s.failures)
    }

    pub fn endpoint(&self, name: &str) -> Option<&Measured> {
        self.endpoints.iter().find(|m| m.name == name)
    }
}

pub const HEALTHZ: &str = "GET /healthz";
pub const GET_USER: &str = "GET /v1/users/{id}";
pub const BY_EMAIL: &str = "GET /v1/users?email_address=";
pub const BY_QUERY: &str = "GET /v1/users?query= (substring)";
pub const PATCH_METADATA: &str = "PATCH /v1/users/{id}/metadata";
pub const PUT_METADATA: &str = "PUT /v1/users/{id}/metadata";
pub const TOKEN: &str = "POST /v1/sessions/{id}/tokens/{template}";
pub const FAPI_ME: &str = "GET /fapi/v1/me";

/// A user picked from the dataset.
struct Sampled {
    id: String,
    email: String,
    /// A substring of the username that only this user has.
    fragment: String,
}

/// What the requests are built from, shared by every connection.
struct Data {
    host: String,
    users: Vec<Sampled>,
    sessions: Vec<String>,
    fapi_authorization: String,
    /// The JWT template the token requests name.
    template: String,
}

impl Data {
    fn user<'a>(&'a self, rng: &mut StdRng) -> &'a Sampled {
        &self.users[rng.gen_range(0..self.users.len())]
    }

    fn request(&self, method: &str, path: &str, body: Option<Value>) -> Request<Full<Bytes>> {
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.host)
            .header("authorization", format!("Bearer {SECRET_KEY}"));
        let body = match body {
            Some(v) => {
                builder = builder.header("content-type", "application/json");
                Bytes::from(v.to_string())
            }
            None => Bytes::new(),
        };
        // The parts are all valid by construction; a failure here is a bug in this file.
        builder
            .body(Full::new(body))
            .unwrap_or_else(|_| Request::new(Full::new(Bytes::new())))
    }
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn maker(data: &Arc<Data>, name: &'static str) -> MakeRequest {
    let data = Arc::clone(data);
    let counter = Arc::new(AtomicU64::new(0));
    Arc::new(move |rng: &mut StdRng| {
        let d = &data;
        match name {
            HEALTHZ => d.request("GET", "/healthz", None),
            GET_USER => d.request("GET", &format!("/v1/users/{}", d.user(rng).id), None),
            BY_EMAIL => d.request(
                "GET",
                &format!("/v1/users?email_address={}", encode(&d.user(rng).email)),
                None,
            ),
            BY_QUERY => d.request(
                "GET",
                &format!("/v1/users?query={}", encode(&d.user(rng).fragment)),
                None,
            ),
            PATCH_METADATA => {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                d.request(
                    "PATCH",
                    &format!("/v1/users/{}/metadata", d.user(rng).id),
                    Some(json!({
                        "public_metadata": {"bench": {"n": n, "flag": n.is_multiple_of(2)}},
                        "private_metadata": {"stripe": {"last_event": format!("evt_{n:012}")}, "stale": null},
                    })),
                )
            }
            PUT_METADATA => {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                d.request(
                    "PUT",
                    &format!("/v1/users/{}/metadata", d.user(rng).id),
                    Some(json!({
                        "unsafe_metadata": {
                            "birthday": "1990-01-01",
                            "preferences": {"theme": "dark", "newsletter": n.is_multiple_of(3), "locale": "en-GB"},
                            "onboarding": {"step": n % 7, "completed": ["profile", "avatar", "team"]},
                            "bio": "A few hundred bytes of profile, replaced whole on every write; ".repeat(3),
                        }
                    })),
                )
            }
            TOKEN => {
                let sid = &d.sessions[rng.gen_range(0..d.sessions.len())];
                d.request(
                    "POST",
                    &format!("/v1/sessions/{sid}/tokens/{}", d.template),
                    None,
                )
            }
            FAPI_ME => {
                let mut r = d.request("GET", "/fapi/v1/me", None);
                if let Ok(v) = d.fapi_authorization.parse() {
                    r.headers_mut().insert("authorization", v);
                }
                r
            }
            _ => d.request("GET", "/healthz", None),
        }
    })
}

/// A mix for the soak: mostly reads, a fifth writes, some tokens and frontend reads.
fn soak_maker(data: &Arc<Data>) -> MakeRequest {
    let parts: Vec<(u32, MakeRequest)> = vec![
        (40, maker(data, GET_USER)),
        (10, maker(data, BY_EMAIL)),
        (5, maker(data, BY_QUERY)),
        (15, maker(data, PATCH_METADATA)),
        (5, maker(data, PUT_METADATA)),
        (10, maker(data, TOKEN)),
        (15, maker(data, FAPI_ME)),
    ];
    let total: u32 = parts.iter().map(|p| p.0).sum();
    Arc::new(move |rng: &mut StdRng| {
        let mut pick = rng.gen_range(0..total);
        for (weight, make) in &parts {
            if pick < *weight {
                return make(rng);
            }
            pick -= weight;
        }
        parts[0].1(rng)
    })
}

async fn api(
    http: &reqwest::Client,
    roster: &Roster,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> anyhow::Result<Value> {
    let mut req = http
        .request(method, format!("{}{path}", roster.url))
        .bearer_auth(SECRET_KEY);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await?;
    let status = resp.status();
    let value: Value = resp.json().await?;
    if !status.is_success() {
        bail!("{path}: {status}: {value}");
    }
    Ok(value)
}

/// Picks users spread over the dataset, opens sessions, a metadata JWT template and a signed-in
/// native Frontend API client.
async fn prepare(roster: &Roster, users: u64) -> anyhow::Result<Data> {
    let http = reqwest::Client::new();
    let mut sampled = Vec::new();
    let pages = 20u64;
    let mut rng = rand::thread_rng();
    for _ in 0..pages {
        let offset = rng.gen_range(0..users.saturating_sub(100).max(1));
        let page = api(
            &http,
            roster,
            reqwest::Method::GET,
            &format!("/v1/users?limit=100&offset={offset}"),
            None,
        )
        .await?;
        for u in page.as_array().into_iter().flatten() {
            let id = u["id"].as_str().unwrap_or_default().to_owned();
            let email = u["email_addresses"][0]["email_address"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let username = u["username"].as_str().unwrap_or_default();
            let fragment = username
                .split_once('_')
                .map_or(username, |(_, f)| f)
                .to_owned();
            if !id.is_empty() && !email.is_empty() && fragment.len() >= 3 {
                sampled.push(Sampled {
                    id,
                    email,
                    fragment,
                });
            }
        }
    }
    if sampled.is_empty() {
        bail!("the seeded dataset is empty");
    }
    // Unique per run, so that a kept dataset (--keep-data) takes another run.
    let run_tag = format!("{:08x}", rand::random::<u32>());
    let template = format!("bench_{run_tag}");
    api(
        &http,
        roster,
        reqwest::Method::POST,
        "/v1/jwt_templates",
        Some(json!({
            "name": template,
            "lifetime": 60,
            "claims": {
                "role": "{{user.public_metadata.role}}",
                "plan": "{{user.public_metadata.plan}}",
                "teams": "{{user.public_metadata.teams}}",
                "email": "{{user.primary_email_address}}",
            }
        })),
    )
    .await?;
    let mut sessions = Vec::new();
    for u in sampled.iter().take(200) {
        let s = api(
            &http,
            roster,
            reqwest::Method::POST,
            "/v1/sessions",
            Some(json!({"user_id": u.id})),
        )
        .await?;
        sessions.push(s["id"].as_str().unwrap_or_default().to_owned());
    }
    // A native client (no cookies): the client value comes back in Authorization.
    let resp = http
        .post(format!(
            "{}/fapi/v1/client/sign_ups?_is_native=1",
            roster.url
        ))
        .form(&[
            (
                "email_address",
                format!("bench.frontend.{run_tag}@example.com").as_str(),
            ),
            ("password", "a long bench password 7"),
            ("unsafe_metadata", "{\"source\":\"bench\"}"),
        ])
        .send()
        .await?;
    if !resp.status().is_success() {
        bail!(
            "frontend sign-up: {}: {}",
            resp.status(),
            resp.text().await?
        );
    }
    let fapi_authorization = resp
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .context("no Authorization from the frontend sign-up")?
        .to_owned();
    Ok(Data {
        host: roster.addr.to_string(),
        users: sampled,
        sessions,
        fapi_authorization,
        template,
    })
}

/// Runs `name` closed loop at `connections`, noting server CPU and peak memory.
async fn peak(
    roster: &Roster,
    data: &Arc<Data>,
    name: &'static str,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<(LoadResult, f64, f64)> {
    roster.reset_peak();
    let cpu = roster.cpu_seconds()?;
    let result = load::run(roster.addr, connections, duration, None, maker(data, name)).await?;
    let cores = (roster.cpu_seconds()? - cpu) / result.elapsed.as_secs_f64();
    let (_, peak_rss) = roster.memory_mib()?;
    Ok((result, cores, peak_rss))
}

pub async fn run_backend(plan: Plan) -> anyhow::Result<BackendRun> {
    let backend = plan.backend.clone();
    let roster = Roster::start(&plan.roster, &plan.storage, SECRET_KEY).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (idle_rss_mib, _) = roster.memory_mib()?;
    eprintln!(
        "{backend}: started in {:.0} ms, idle RSS {idle_rss_mib:.1} MiB",
        roster.startup.as_secs_f64() * 1000.0
    );
    let data = Arc::new(prepare(&roster, plan.users).await?);

    eprintln!("{backend}: storage ceiling …");
    let (storage_ceiling, storage_ceiling_note) = match &plan.storage.database_url {
        None => {
            let dir = plan.storage.data_dir.clone();
            let duration = plan.duration;
            let rate =
                tokio::task::spawn_blocking(move || ceilings::sqlite_rmw(&dir, duration)).await??;
            (
                rate,
                "one connection (SQLite has one writer), WAL, synchronous=FULL",
            )
        }
        Some(url) => (
            ceilings::postgres_rmw(url, plan.connections, plan.duration).await?,
            "as many sessions as the load has connections, the cluster's own durability settings",
        ),
    };

    let mut endpoints = Vec::new();
    let mut max_rss: f64 = 0.0;
    let ceiling_time = plan.duration.max(Duration::from_millis(300));
    let mut signs = None;
    // The last `GET /healthz` rate: each endpoint's HTTP ceiling brackets its peak run.
    let mut healthz_before = 0.0;
    for name in [
        HEALTHZ,
        GET_USER,
        BY_EMAIL,
        BY_QUERY,
        PATCH_METADATA,
        PUT_METADATA,
        TOKEN,
        FAPI_ME,
    ] {
        if name != HEALTHZ
            && !plan.only.is_empty()
            && !plan.only.iter().any(|o| name.contains(o.as_str()))
        {
            continue;
        }
        if name == TOKEN {
            eprintln!("{backend}: RSA-2048 signing ceiling …");
            signs =
                Some(tokio::task::spawn_blocking(move || ceilings::signs(ceiling_time)).await??);
        }
        eprintln!("{backend}: {name} …");
        let (result, cores, peak_rss_mib) =
            peak(&roster, &data, name, plan.connections, plan.duration).await?;
        max_rss = max_rss.max(peak_rss_mib);
        let (http_ceiling, half) = if name == HEALTHZ {
            healthz_before = result.per_second();
            (None, None)
        } else {
            // The machine's speed drifts within minutes: the ceiling is measured again right
            // after the run, and the run is compared with the mean of the two.
            let after = load::run(
                roster.addr,
                plan.connections,
                plan.duration / 2,
                None,
                maker(&data, HEALTHZ),
            )
            .await?
            .per_second();
            let ceiling = (healthz_before + after) / 2.0;
            healthz_before = after;
            // Half the peak rate, open loop: the latency a service sees with headroom left.
            let half = load::run(
                roster.addr,
                plan.connections,
                plan.duration,
                Some(result.per_second() / 2.0),
                maker(&data, name),
            )
            .await?;
            (Some(ceiling), Some(half))
        };
        endpoints.push(Measured {
            name,
            peak: result,
            cores,
            peak_rss_mib,
            half,
            http_ceiling,
        });
    }

    // Latency against throughput for the plot: open loop at fractions of the peak.
    let mut sweeps = Vec::new();
    for name in [GET_USER, PATCH_METADATA] {
        let Some(top) = endpoints.iter().find(|m| m.name == name) else {
            continue;
        };
        let peak_rate = top.peak.per_second();
        let mut points = Vec::new();
        for fraction in [0.1, 0.25, 0.5, 0.75, 0.9] {
            let r = load::run(
                roster.addr,
                plan.connections,
                plan.duration / 2,
                Some(peak_rate * fraction),
                maker(&data, name),
            )
            .await?;
            points.push((r.per_second(), r.ms(0.5), r.ms(0.99)));
        }
        points.push((top.peak.per_second(), top.peak.ms(0.5), top.peak.ms(0.99)));
        sweeps.push(Sweep { name, points });
    }

    eprintln!("{backend}: RSA-2048 verification ceiling on one core …");
    let verifies_per_core =
        tokio::task::spawn_blocking(move || ceilings::verifies_per_core(ceiling_time)).await??;
    eprintln!("{backend}: SDK token verification …");
    let sdk_verifies_per_s = sdk_verification(&roster, &data, plan.duration).await?;
    let (signs_per_core, signs_one_core) = match signs {
        Some(rates) => rates,
        None => tokio::task::spawn_blocking(move || ceilings::signs(ceiling_time)).await??,
    };

    let soak = if plan.soak.is_zero() {
        None
    } else {
        eprintln!("{backend}: soak for {:.0} s …", plan.soak.as_secs_f64());
        Some(soak(&roster, &data, plan.connections, plan.soak).await?)
    };
    if let Some(s) = &soak {
        max_rss = max_rss.max(s.rss_mib.iter().cloned().fold(0.0, f64::max));
    }
    Ok(BackendRun {
        backend,
        users: plan.users,
        seeded_in: plan.seeded_in,
        startup: roster.startup,
        idle_rss_mib,
        max_rss_mib: max_rss,
        storage_ceiling,
        storage_ceiling_note,
        endpoints,
        sweeps,
        sdk_verifies_per_s,
        crypto: ceilings::Crypto {
            signs_per_core,
            signs_one_core,
            verifies_per_core,
        },
        soak,
    })
}

/// `roster_sdk::Verifier::verify` on one thread, keys given up front from the server's JWKS.
async fn sdk_verification(
    roster: &Roster,
    data: &Arc<Data>,
    duration: Duration,
) -> anyhow::Result<f64> {
    let http = reqwest::Client::new();
    let sid = data.sessions.first().context("no session")?;
    let token = api(
        &http,
        roster,
        reqwest::Method::POST,
        &format!("/v1/sessions/{sid}/tokens"),
        Some(json!({"expires_in_seconds": 600})),
    )
    .await?;
    let jwt = token["jwt"].as_str().context("no jwt")?.to_owned();
    let jwks: roster_proto::JwksJson =
        serde_json::from_value(api(&http, roster, reqwest::Method::GET, "/v1/jwks", None).await?)?;
    let verifier = roster_sdk::Verifier::from_jwks(&jwks);
    // One thread, one core: the ratio is to the library's verifications per core.
    std::thread::spawn(move || -> anyhow::Result<f64> {
        let rt = tokio::runtime::Builder::new_current_thread().build()?;
        rt.block_on(async {
            let started = Instant::now();
            let mut n = 0u64;
            while started.elapsed() < duration {
                verifier
                    .verify::<serde_json::Map<String, Value>>(&jwt)
                    .await
                    .map_err(|e| anyhow::anyhow!("verification failed: {e}"))?;
                n += 1;
            }
            Ok(n as f64 / started.elapsed().as_secs_f64())
        })
    })
    .join()
    .map_err(|_| anyhow::anyhow!("verification thread panicked"))?
}

async fn soak(
    roster: &Roster,
    data: &Arc<Data>,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<Soak> {
    let pid = roster.pid;
    let sampler = tokio::spawn(async move {
        let mut samples = Vec::new();
        let started = Instant::now();
        while started.elapsed() < duration {
            samples.push(crate::server::memory_mib(pid).map_or(0.0, |(rss, _)| rss));
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        samples
    });
    let r = load::run(roster.addr, connections, duration, None, soak_maker(data)).await?;
    let rss_mib = sampler.await?;
    Ok(Soak {
        seconds: duration.as_secs_f64(),
        requests: r.requests,
        failures: r.failures,
        server_errors: r.server_errors,
        per_second: r.per_second(),
        p99_ms: r.ms(0.99),
        rss_mib,
    })
}

/// A fresh database on the PostgreSQL server, dropped at the end.
pub struct TempDatabase {
    admin: String,
    name: String,
    pub url: String,
}

/// A connection to the PostgreSQL server the bench creates its databases on.
async fn admin_client(admin: &str) -> anyhow::Result<tokio_postgres::Client> {
    let (client, conn) = tokio_postgres::connect(admin, tokio_postgres::NoTls)
        .await
        .context("connecting to PostgreSQL")?;
    tokio::spawn(conn);
    Ok(client)
}

/// The URL of database `name` on the server of `admin`.
fn database_url(admin: &str, name: &str) -> String {
    let base = admin.rsplit_once('/').map_or(admin, |(b, _)| b);
    format!("{base}/{name}")
}

/// The database `--keep-data` keeps for `users` users, created if missing; and whether it existed.
pub async fn kept_database(admin: &str, users: u64) -> anyhow::Result<(String, bool)> {
    let name = format!("roster_bench_kept_{users}");
    let client = admin_client(admin).await?;
    let existed = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await?
        .is_some();
    if !existed {
        client
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .await?;
    }
    Ok((database_url(admin, &name), existed))
}

pub async fn create_database(admin: &str) -> anyhow::Result<TempDatabase> {
    let name = format!("roster_bench_{:08x}", rand::random::<u32>());
    admin_client(admin)
        .await?
        .batch_execute(&format!("CREATE DATABASE \"{name}\""))
        .await?;
    Ok(TempDatabase {
        admin: admin.to_owned(),
        url: database_url(admin, &name),
        name,
    })
}

impl TempDatabase {
    pub async fn drop_database(self) {
        if let Ok(client) = admin_client(&self.admin).await {
            let _ = client
                .batch_execute(&format!(
                    "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                    self.name
                ))
                .await;
        }
    }
}

//! `roster-bench`: seeds a dataset, starts the real `roster` binary on it, drives it over loopback
//! with a built-in load generator, measures the machine's ceilings in the same run, and writes a
//! markdown report with a latency-against-throughput plot.
//!
//! ```sh
//! scripts/bench                      # full run, both backends, writes docs/benchmarks.md
//! scripts/bench --quick              # well under a minute; what the test suite runs
//! ```

mod ceilings;
mod load;
mod report;
mod scenarios;
mod server;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Parser;

use crate::scenarios::BackendRun;
use crate::server::Storage;

#[derive(Parser)]
#[command(
    about = "Benchmarks Roster against the ceilings of this machine, on SQLite and PostgreSQL"
)]
struct Args {
    /// A smoke run: a small dataset and short runs (well under a minute). Fails on any failed
    /// request, asserts nothing about timing.
    #[arg(long)]
    quick: bool,
    /// Users to seed [default: 100000; 2000 with --quick].
    #[arg(long)]
    users: Option<u64>,
    /// Seconds per measured run [default: 6; 0.4 with --quick].
    #[arg(long)]
    seconds: Option<f64>,
    /// Concurrent connections for the closed-loop (peak) runs.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Backends to run, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "sqlite,postgres")]
    backends: Vec<String>,
    /// A PostgreSQL server URL the bench may create databases on. Without it PostgreSQL is
    /// skipped (with a notice).
    #[arg(long, env = "ROSTER_BENCH_PG_URL")]
    postgres_url: Option<String>,
    /// The `roster` binary [default: the one next to this executable].
    #[arg(long)]
    roster: Option<PathBuf>,
    /// Where the databases go (a real disk: fsync on tmpfs costs nothing).
    #[arg(long, default_value = "target/bench-data")]
    work_dir: PathBuf,
    /// The report [default: docs/benchmarks.md; target/bench-quick/benchmarks.md with --quick].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Only the endpoints whose name contains one of these (comma-separated), e.g.
    /// `metadata,tokens`; `GET /healthz` always runs. For profiling one path.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Seconds of mixed read/write/token load after the measured runs, watching for 5xx and
    /// memory growth [default: 120; 2 with --quick; 0 skips].
    #[arg(long)]
    soak: Option<f64>,
    /// Keep each seeded dataset under this directory (PostgreSQL: a database named after the
    /// user count) and reuse it on the next run with the same `--users`, instead of seeding
    /// again. For profiling at 1M users; a reused dataset carries earlier runs' writes.
    #[arg(long)]
    keep_data: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let quick = args.quick;
    let users = args.users.unwrap_or(if quick { 2_000 } else { 100_000 });
    let seconds = args.seconds.unwrap_or(if quick { 0.4 } else { 6.0 });
    let soak = args.soak.unwrap_or(if quick { 2.0 } else { 120.0 });
    let out = args.out.clone().unwrap_or_else(|| {
        if quick {
            PathBuf::from("target/bench-quick/benchmarks.md")
        } else {
            PathBuf::from("docs/benchmarks.md")
        }
    });
    let roster = match &args.roster {
        Some(p) => p.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("executable directory")?
            .join("roster"),
    };
    if !roster.exists() {
        bail!(
            "{} not found: build it first (cargo build --release -p roster-server) or pass --roster",
            roster.display()
        );
    }
    std::fs::create_dir_all(&args.work_dir)?;
    let duration = Duration::from_secs_f64(seconds);

    let mut runs: Vec<BackendRun> = Vec::new();
    let mut skipped: Vec<String> = Vec::new();
    for backend in &args.backends {
        let work = tempfile::Builder::new()
            .prefix("roster-bench-")
            .tempdir_in(&args.work_dir)?;
        let kept = args
            .keep_data
            .as_ref()
            .map(|dir| dir.join(format!("{backend}-{users}")));
        let data_dir = kept.clone().unwrap_or_else(|| work.path().to_path_buf());
        std::fs::create_dir_all(&data_dir)?;
        // (database URL, the database to drop at the end, whether a kept dataset may be in it)
        let (database_url, dropper, reusable) = match backend.as_str() {
            "sqlite" => (None, None, true),
            "postgres" => {
                let Some(admin) = &args.postgres_url else {
                    eprintln!("PostgreSQL skipped: no --postgres-url / ROSTER_BENCH_PG_URL");
                    skipped.push("postgres (no server given)".into());
                    continue;
                };
                if kept.is_some() {
                    let (url, existed) = scenarios::kept_database(admin, users).await?;
                    (Some(url), None, existed)
                } else {
                    let db = scenarios::create_database(admin).await?;
                    (Some(db.url.clone()), Some(db), false)
                }
            }
            other => bail!("unknown backend {other} (sqlite or postgres)"),
        };
        let storage = Storage {
            data_dir,
            database_url,
        };
        let marker = storage.data_dir.join("seeded-seconds");
        let reused = match std::fs::read_to_string(&marker) {
            Ok(text) if kept.is_some() && reusable => text.trim().parse::<f64>().ok(),
            _ => None,
        };
        let seeded_in = if let Some(seconds) = reused {
            eprintln!(
                "{backend}: reusing the {users} users kept in {}",
                storage.data_dir.display()
            );
            Duration::from_secs_f64(seconds)
        } else {
            eprintln!("{backend}: seeding {users} users …");
            let seeded_in = server::seed(&roster, &storage, users)?;
            if let Some(url) = &storage.database_url {
                // VACUUM (ANALYZE) after the bulk load, as PostgreSQL's documentation advises and
                // an operator would: fresh statistics (autovacuum may not have analysed the new
                // tables yet, and the planner would guess), and no visibility work left for the
                // measured runs. Without the VACUUM, the first reads set hint bits on every page
                // they touch, and autovacuum's insert-triggered pass runs during the runs: a
                // fresh 1M-user dataset read 97.8 ms lookup p99 at half load, 2.40 ms once vacuumed.
                let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
                tokio::spawn(conn);
                client.batch_execute("VACUUM (ANALYZE)").await?;
            }
            if kept.is_some() {
                std::fs::write(&marker, seeded_in.as_secs_f64().to_string())?;
            }
            seeded_in
        };
        let run = scenarios::run_backend(scenarios::Plan {
            backend: backend.clone(),
            roster: roster.clone(),
            storage,
            users,
            seeded_in,
            duration,
            connections: args.connections,
            soak: Duration::from_secs_f64(soak),
            only: args.only.clone(),
        })
        .await
        .with_context(|| format!("benchmark on {backend}"))?;
        if let Some(db) = dropper {
            db.drop_database().await;
        }
        runs.push(run);
    }

    let failed: u64 = runs.iter().map(BackendRun::failures).sum();
    let markdown = report::markdown(&report::Inputs {
        quick,
        users,
        seconds,
        connections: args.connections,
        runs: &runs,
        skipped: &skipped,
        plot_file: report::plot_name(&out),
    });
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    report::plot(&runs, &out.with_file_name(report::plot_name(&out)))?;
    std::fs::write(&out, &markdown)?;
    println!("{markdown}");
    eprintln!("report written to {}", out.display());
    if failed > 0 {
        bail!("{failed} requests failed; see the report");
    }
    Ok(())
}

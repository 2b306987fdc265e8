//! The Roster under test: the real `roster` binary, started as its own process, and what Linux
//! says about that process (CPU time, resident memory).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// Where the database lives: SQLite in the data directory, or a PostgreSQL URL.
#[derive(Clone)]
pub struct Storage {
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
}

impl Storage {
    fn apply(&self, cmd: &mut Command) {
        cmd.arg("--data-dir").arg(&self.data_dir);
        match &self.database_url {
            Some(url) => cmd.env("ROSTER_DATABASE_URL", url),
            None => cmd.env_remove("ROSTER_DATABASE_URL"),
        };
    }
}

/// Loads `users` synthetic users with `roster seed`.
pub fn seed(bin: &Path, storage: &Storage, users: u64) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut cmd = Command::new(bin);
    cmd.args(["seed", "--users", &users.to_string()]);
    storage.apply(&mut cmd);
    let status = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .context("running roster seed")?;
    if !status.success() {
        bail!("roster seed failed: {status}");
    }
    Ok(started.elapsed())
}

pub struct Roster {
    child: Child,
    pub addr: SocketAddr,
    pub url: String,
    pub pid: u32,
    /// From spawning the process to the first answered `GET /healthz`.
    pub startup: Duration,
}

impl Roster {
    pub async fn start(bin: &Path, storage: &Storage, secret_key: &str) -> anyhow::Result<Roster> {
        let started = Instant::now();
        let mut cmd = Command::new(bin);
        cmd.args(["serve", "--listen", "127.0.0.1:0"]);
        storage.apply(&mut cmd);
        let mut child = cmd
            .env("ROSTER_SECRET_KEY", secret_key)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let stdout = child.stdout.take().context("roster stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("Roster listening on ") {
                    let _ = tx.send(url.trim().to_owned());
                }
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(60))
            .context("roster did not print its address")?;
        let addr: SocketAddr = url
            .trim_start_matches("http://")
            .parse()
            .context("roster's address")?;
        let pid = child.id();
        let mut roster = Roster {
            child,
            addr,
            url,
            pid,
            startup: Duration::ZERO,
        };
        let http = reqwest::Client::new();
        loop {
            let answered = http
                .get(format!("{}/healthz", roster.url))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if answered {
                break;
            }
            if started.elapsed() > Duration::from_secs(60) {
                bail!("roster did not answer /healthz within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        roster.startup = started.elapsed();
        Ok(roster)
    }

    /// CPU seconds (user + system) the process has used so far.
    pub fn cpu_seconds(&self) -> anyhow::Result<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid))?;
        // Fields after the parenthesised command name; utime and stime are the 14th and 15th
        // fields of the line, the 12th and 13th after the name.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| -> f64 { fields.get(i).and_then(|v| v.parse().ok()).unwrap_or(0.0) };
        Ok((ticks(11) + ticks(12)) / clock_ticks_per_second())
    }

    /// Resident memory now and its peak since the last [`Roster::reset_peak`], in MiB.
    pub fn memory_mib(&self) -> anyhow::Result<(f64, f64)> {
        memory_mib(self.pid)
    }

    /// Starts a new peak-RSS window (Linux resets VmHWM on writing 5 to `clear_refs`).
    pub fn reset_peak(&self) {
        // Not every kernel lets us; the peak then covers the process's whole life.
        let _ = std::fs::write(format!("/proc/{}/clear_refs", self.pid), "5");
    }
}

impl Drop for Roster {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Resident memory of process `pid` now and its peak (VmRSS, VmHWM), in MiB.
pub fn memory_mib(pid: u32) -> anyhow::Result<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib = |key: &str| -> f64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    Ok((kib("VmRSS:") / 1024.0, kib("VmHWM:") / 1024.0))
}

fn clock_ticks_per_second() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

//! Boots the real `roster` binary on a loopback port with a fresh data directory.
#![allow(dead_code, clippy::expect_used, clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub const SECRET_KEY: &str = "sk_test_integration_0123456789abcdefghijklmnop";

/// The database backend the integration tests run on: SQLite unless `ROSTER_TEST_BACKEND` is
/// `postgres`, in which case `ROSTER_TEST_PG_URL` names a cluster (see `scripts/pg-cluster`).
pub fn postgres_admin_url() -> Option<String> {
    match std::env::var("ROSTER_TEST_BACKEND").as_deref() {
        Ok("postgres") => Some(std::env::var("ROSTER_TEST_PG_URL").expect(
            "ROSTER_TEST_BACKEND=postgres needs ROSTER_TEST_PG_URL (scripts/pg-cluster start)",
        )),
        _ => None,
    }
}

fn psql(admin_url: &str, sql: &str) -> std::process::Output {
    Command::new("psql")
        .args(["-q", "-At", "-v", "ON_ERROR_STOP=1", admin_url, "-c", sql])
        .output()
        .expect("run psql")
}

/// The PostgreSQL database belonging to a data directory, created on first use, so that a
/// restart on the same directory finds the same data.
fn postgres_url_for(admin_url: &str, data_dir: &Path) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    data_dir.hash(&mut hasher);
    let name = format!("roster_t_{:016x}", hasher.finish());
    let exists = psql(
        admin_url,
        &format!("SELECT 1 FROM pg_database WHERE datname = '{name}'"),
    );
    if String::from_utf8_lossy(&exists.stdout).trim() != "1" {
        let out = psql(admin_url, &format!("CREATE DATABASE \"{name}\""));
        assert!(
            out.status.success(),
            "createdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let base = admin_url
        .rsplit_once('/')
        .map(|(b, _)| b)
        .unwrap_or(admin_url);
    format!("{base}/{name}")
}

/// Everything the database holds, as text: for checks that a secret never reached storage.
pub fn database_contents(server: &Server) -> String {
    match &server.database_url {
        Some(url) => {
            let out = Command::new("pg_dump")
                .args(["--data-only", url])
                .output()
                .expect("pg_dump");
            assert!(
                out.status.success(),
                "pg_dump: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).into_owned()
        }
        None => ["roster.db", "roster.db-wal"]
            .iter()
            .filter_map(|f| std::fs::read(server.data_dir.join(f)).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .collect(),
    }
}

pub struct Server {
    pub url: String,
    pub secret_key: String,
    pub data_dir: PathBuf,
    /// The PostgreSQL database, when running on PostgreSQL.
    pub database_url: Option<String>,
    /// Everything the server printed on stdout before it was ready.
    pub banner: String,
    child: Child,
    _dir: Option<tempfile::TempDir>,
}

impl Server {
    /// A server on a new, empty data directory.
    pub fn start() -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut server = Server::start_in(dir.path(), &[]);
        server._dir = Some(dir);
        server
    }

    /// A server on `data_dir` (kept when the server stops), with extra environment.
    pub fn start_in(data_dir: &Path, env: &[(&str, &str)]) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_roster"));
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .env("ROSTER_SECRET_KEY", SECRET_KEY)
            .env("RUST_LOG", "warn")
            .env_remove("ROSTER_DATABASE_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let database_url = postgres_admin_url().map(|admin| postgres_url_for(&admin, data_dir));
        if let Some(url) = &database_url {
            cmd.env("ROSTER_DATABASE_URL", url);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn roster");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut banner = String::new();
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                banner.push_str(&line);
                banner.push('\n');
                if banner.lines().count() >= 6 {
                    let _ = tx.send(banner.clone());
                }
            }
        });
        let banner = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(b) => b,
            Err(_) => {
                let _ = child.kill();
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                panic!("roster did not start: {err}");
            }
        };
        let url = banner
            .lines()
            .find_map(|l| l.split("listening on ").nth(1))
            .expect("listening line")
            .trim()
            .to_owned();
        Server {
            url,
            secret_key: SECRET_KEY.to_owned(),
            data_dir: data_dir.to_owned(),
            database_url,
            banner,
            child,
            _dir: None,
        }
    }

    pub fn v1(&self, path: &str) -> String {
        format!("{}/v1{}", self.url, path)
    }

    /// A reqwest client that sends the secret key.
    pub fn http(&self) -> reqwest::Client {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {}", self.secret_key)
                .parse()
                .expect("header"),
        );
        reqwest::Client::builder()
            .default_headers(headers)
            .build()
            .expect("client")
    }

    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// A crash: SIGKILL, so no graceful shutdown runs, whatever `stop` may become. The data
    /// directory stays; `start_in` on it again is a restart after the crash.
    ///
    /// On PostgreSQL the database outlives the process: a statement already on the wire runs to
    /// its end (an autocommit statement commits) before its session notices the closed socket.
    /// So this returns only once the killed server's sessions are gone, when what the database
    /// holds is final, as it is on SQLite the moment the process dies.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let (Some(admin), Some(url)) = (postgres_admin_url(), &self.database_url) {
            let name = url.rsplit('/').next().unwrap_or_default();
            let sql = format!("SELECT count(*) FROM pg_stat_activity WHERE datname = '{name}'");
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            loop {
                let out = psql(&admin, &sql);
                if String::from_utf8_lossy(&out.stdout).trim() == "0" {
                    break;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "the killed server's PostgreSQL sessions did not end within 60 s"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

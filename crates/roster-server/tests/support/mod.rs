//! Boots the real `roster` binary on a loopback port with a fresh data directory.
#![allow(dead_code, clippy::expect_used, clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub const SECRET_KEY: &str = "sk_test_integration_0123456789abcdefghijklmnop";

pub struct Server {
    pub url: String,
    pub secret_key: String,
    pub data_dir: PathBuf,
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
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

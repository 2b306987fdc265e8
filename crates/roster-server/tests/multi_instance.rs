#![allow(clippy::expect_used, clippy::unwrap_used)]
//! Several Roster processes on one database behave as one server, and a database outage is a
//! clean 503 that heals by itself.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::Server;

async fn merge(server: &Server, id: &str, key: String, n: usize) -> reqwest::StatusCode {
    server
        .http()
        .patch(server.v1(&format!("/users/{id}/metadata")))
        .json(&json!({"private_metadata": {"writes": {key: n}}}))
        .send()
        .await
        .expect("merge")
        .status()
}

#[tokio::test]
async fn two_processes_share_instance_keys_and_every_write() {
    let dir = tempfile::tempdir().unwrap();
    let a = Server::start_in(dir.path(), &[]);
    let b = Server::start_in(dir.path(), &[]);
    let instance = |s: &Server| {
        s.banner
            .lines()
            .find(|l| l.contains("instance:"))
            .map(str::to_owned)
    };
    assert_eq!(
        instance(&a),
        instance(&b),
        "the second process reuses the instance"
    );
    assert!(
        b.banner.contains("from ROSTER_SECRET_KEY"),
        "no second key is minted: {}",
        b.banner
    );

    let user: Value = a
        .http()
        .post(a.v1("/users"))
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = user["id"].as_str().unwrap().to_owned();
    let mut tasks = Vec::new();
    for i in 0..60 {
        for (name, server) in [("a", &a), ("b", &b)] {
            let (url, key) = (
                server.v1(&format!("/users/{id}/metadata")),
                server.secret_key.clone(),
            );
            let key_name = format!("{name}{i}");
            tasks.push(tokio::spawn(async move {
                reqwest::Client::new()
                    .patch(url)
                    .bearer_auth(key)
                    .json(&json!({"private_metadata": {"writes": {key_name: i}}}))
                    .send()
                    .await
                    .map(|r| r.status())
            }));
        }
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), 200);
    }
    for server in [&a, &b] {
        let got: Value = server
            .http()
            .get(server.v1(&format!("/users/{id}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            got["private_metadata"]["writes"]
                .as_object()
                .map(|m| m.len()),
            Some(120)
        );
    }

    // A key minted while both run is accepted by both.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_roster"));
    cmd.args(["keys", "create", "--data-dir"]).arg(dir.path());
    if let Some(url) = &a.database_url {
        cmd.args(["--database-url", url]);
    }
    let minted = String::from_utf8_lossy(&cmd.output().unwrap().stdout)
        .trim()
        .to_owned();
    for server in [&a, &b] {
        let status = reqwest::Client::new()
            .get(server.v1("/users"))
            .bearer_auth(&minted)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200);
    }
    assert_eq!(merge(&b, &id, "late".into(), 1).await, 200);
}

fn cluster(args: &[&str], env: &[(String, String)]) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/pg-cluster");
    let out = Command::new("bash")
        .arg(script)
        .args(args)
        .envs(env.iter().cloned())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pg-cluster {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn database_outage_is_a_clean_503_and_heals() {
    if support::postgres_admin_url().is_none() {
        eprintln!("*** outage test runs in the PostgreSQL pass (ROSTER_TEST_BACKEND=postgres) ***");
        return;
    }
    // A cluster of its own, so stopping it disturbs no other test.
    let env: Vec<(String, String)> = cluster(&["start"], &[])
        .lines()
        .filter_map(|l| {
            l.strip_prefix("export ")?
                .split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
        })
        .collect();
    let admin = env
        .iter()
        .find(|(k, _)| k == "ROSTER_TEST_PG_URL")
        .map(|(_, v)| v.clone())
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), &[("ROSTER_DATABASE_URL", admin.as_str())]);
    let user: Value = server
        .http()
        .post(server.v1("/users"))
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = server.v1(&format!("/users/{}", user["id"].as_str().unwrap()));

    cluster(&["down"], &env);
    let started = Instant::now();
    let resp = server.http().get(&url).send().await.unwrap();
    let waited = started.elapsed();
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "service_unavailable");
    assert!(
        !body.to_string().contains("127.0.0.1"),
        "no database detail leaks: {body}"
    );
    assert!(
        waited < Duration::from_secs(12),
        "answered in {waited:?}, not hung"
    );
    let health = reqwest::get(format!("{}/healthz", server.url))
        .await
        .unwrap()
        .status();
    assert_eq!(health, 503);

    cluster(&["up"], &env);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = server.http().get(&url).send().await.unwrap().status();
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "did not recover: {status}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(server);
    cluster(&["stop"], &env);
}

/// Signs up a native client on `server` and returns (Authorization value, user id, session id).
async fn native_sign_up(server: &Server, email: &str) -> (String, String, String) {
    let resp = reqwest::Client::new()
        .post(format!(
            "{}/fapi/v1/client/sign_ups?_is_native=1",
            server.url
        ))
        .form(&[
            ("email_address", email),
            ("password", "a long enough password 42"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let auth = resp.headers()["authorization"].to_str().unwrap().to_owned();
    let body: Value = resp.json().await.unwrap();
    let user = body["response"]["created_user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let session = body["response"]["created_session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    (auth, user, session)
}

async fn me_status(server: &Server, auth: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{}/fapi/v1/me", server.url))
        .header("Authorization", auth)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn revoke_and_sign_out_take_effect_on_every_instance_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let a = Server::start_in(dir.path(), &[]);
    let b = Server::start_in(dir.path(), &[]);

    // Revoked on A (Backend API): B refuses the client and the session's tokens at once.
    let (auth, _user, session) = native_sign_up(&a, "revoked@example.com").await;
    assert_eq!(me_status(&b, &auth).await, 200, "B knows A's client");
    let revoked = a
        .http()
        .post(a.v1(&format!("/sessions/{session}/revoke")))
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    assert_eq!(me_status(&b, &auth).await, 401, "B sees the revoke at once");
    let token = b
        .http()
        .post(b.v1(&format!("/sessions/{session}/tokens")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        token.status().as_u16(),
        404,
        "no token for a revoked session on B"
    );
    let body: Value = token.json().await.unwrap();
    assert!(body["errors"][0]["code"].is_string(), "{body}");

    // Signed out on B (Frontend API): A refuses the client at once.
    let (auth, _user, _session) = native_sign_up(&a, "signed.out@example.com").await;
    assert_eq!(me_status(&a, &auth).await, 200);
    let out = reqwest::Client::new()
        .delete(format!("{}/fapi/v1/client/sessions", b.url))
        .header("Authorization", &auth)
        .send()
        .await
        .unwrap();
    assert!(out.status().is_success(), "sign-out on B: {}", out.status());
    assert_eq!(
        me_status(&a, &auth).await,
        401,
        "A sees the sign-out at once"
    );
}

#![allow(clippy::expect_used, clippy::unwrap_used)]
//! Brute-force and abuse limits through the real binary: per-identifier and per-address limits on
//! Frontend API sign-in and sign-up, counted in the database so that every process on it shares
//! them; the account lockout as the Backend API shows it; the Backend API limit, off by default.

mod support;

use serde_json::{json, Value};
use support::Server;

struct Reply {
    status: u16,
    retry_after: Option<i64>,
    body: Value,
}

/// A Frontend API form POST from a fresh client (no cookie), with extra headers.
async fn fapi(
    server: &Server,
    path: &str,
    form: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> Reply {
    let mut req = reqwest::Client::new()
        .post(format!("{}/fapi/v1{path}", server.url))
        .form(form);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    reply(req.send().await.unwrap()).await
}

async fn reply(resp: reqwest::Response) -> Reply {
    let status = resp.status().as_u16();
    let retry_after = resp.headers().get("retry-after").map(|v| {
        v.to_str()
            .unwrap()
            .parse()
            .expect("Retry-After is whole seconds")
    });
    let text = resp.text().await.unwrap();
    Reply {
        status,
        retry_after,
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
    }
}

async fn sign_in(server: &Server, identifier: &str, password: &str) -> Reply {
    fapi(
        server,
        "/client/sign_ins",
        &[
            ("strategy", "password"),
            ("identifier", identifier),
            ("password", password),
        ],
        &[],
    )
    .await
}

/// A two-step sign-in: the identifier, then the password on the same client.
async fn two_step_sign_in(server: &Server, identifier: &str, password: &str) -> Reply {
    let http = reqwest::Client::new();
    let base = format!("{}/fapi/v1", server.url);
    let created = http
        .post(format!("{base}/client/sign_ins?_is_native=1"))
        .form(&[("identifier", identifier)])
        .send()
        .await
        .unwrap();
    let auth = created.headers()["authorization"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = created.json().await.unwrap();
    let attempt = body["response"]["id"].as_str().unwrap().to_owned();
    let resp = http
        .post(format!(
            "{base}/client/sign_ins/{attempt}/attempt_first_factor?_is_native=1"
        ))
        .header("authorization", auth)
        .form(&[("strategy", "password"), ("password", password)])
        .send()
        .await
        .unwrap();
    reply(resp).await
}

async fn create_user(server: &Server, email: &str, username: &str, password: &str) -> String {
    let user: Value = server
        .http()
        .post(server.v1("/users"))
        .json(&json!({"email_address": [email], "username": username, "password": password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    user["id"].as_str().expect("user created").to_owned()
}

async fn bapi_user(server: &Server, id: &str) -> Value {
    server
        .http()
        .get(server.v1(&format!("/users/{id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// A 429 as Clerk sends it: `too_many_requests` in the error envelope, and `Retry-After`.
fn assert_limited(r: &Reply, max_retry_s: i64, context: &str) {
    assert_eq!(r.status, 429, "{context}: {}", r.body);
    let retry = r
        .retry_after
        .unwrap_or_else(|| panic!("{context}: no Retry-After"));
    assert!(
        (1..=max_retry_s).contains(&retry),
        "{context}: Retry-After {retry}"
    );
    let error = &r.body["errors"][0];
    assert_eq!(error["code"], "too_many_requests", "{context}");
    assert_eq!(error["message"], "Too many requests", "{context}");
    assert_eq!(
        error["long_message"], "Too many requests, retry later",
        "{context}"
    );
    assert!(r.body["clerk_trace_id"].is_string(), "{context}");
}

#[tokio::test]
async fn the_identifier_limit_refuses_with_retry_after_and_spares_other_identifiers() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(
        dir.path(),
        &[
            ("ROSTER_AUTH_RATE_LIMIT_PER_IP", "off"),
            ("ROSTER_AUTH_RATE_LIMIT_PER_IDENTIFIER", "3/10m"),
        ],
    );
    let grace = create_user(&server, "grace@example.com", "grace", "right password").await;
    create_user(&server, "ada@example.com", "ada_lovelace", "ada's password").await;

    // Three wrong passwords, however the identifier is typed and through either flow.
    assert_eq!(
        sign_in(&server, "grace@example.com", "guess one")
            .await
            .status,
        422
    );
    assert_eq!(
        sign_in(&server, " GRACE@example.com", "guess two")
            .await
            .status,
        422
    );
    assert_eq!(
        two_step_sign_in(&server, "grace@example.com", "guess three")
            .await
            .status,
        422
    );
    assert_eq!(
        bapi_user(&server, &grace).await["verification_attempts_remaining"],
        97
    );

    // Then the identifier is refused, even with the right password, in both flows.
    assert_limited(
        &sign_in(&server, "grace@example.com", "right password").await,
        1200,
        "one-step",
    );
    assert_limited(
        &two_step_sign_in(&server, "grace@example.com", "right password").await,
        1200,
        "two-step",
    );
    assert_eq!(
        bapi_user(&server, &grace).await["verification_attempts_remaining"],
        97,
        "refused attempts never reach the password check"
    );

    // An unknown identifier is limited exactly like a known one.
    for _ in 0..3 {
        let r = sign_in(&server, "nobody@example.com", "guess").await;
        assert_eq!(r.body["errors"][0]["code"], "form_identifier_not_found");
    }
    assert_limited(
        &sign_in(&server, "nobody@example.com", "guess").await,
        1200,
        "unknown identifier",
    );

    // Other identifiers are unaffected.
    let r = sign_in(&server, "ada_lovelace", "ada's password").await;
    assert_eq!(
        (r.status, r.body["response"]["status"].as_str()),
        (200, Some("complete"))
    );

    // Sign-ups count per identifier too, separately from sign-ins.
    for n in 0..3 {
        let password = format!("long enough {n}");
        let form = [
            ("email_address", "newcomer@example.com"),
            ("password", password.as_str()),
        ];
        let r = fapi(&server, "/client/sign_ups", &form, &[]).await;
        assert_ne!(r.status, 429, "{}", r.body);
    }
    let form = [
        ("email_address", "newcomer@example.com"),
        ("password", "long enough 4"),
    ];
    assert_limited(
        &fapi(&server, "/client/sign_ups", &form, &[]).await,
        1200,
        "sign-up",
    );
}

#[tokio::test]
async fn the_address_limit_counts_sign_ins_and_sign_ups_apart_and_ignores_forwarded_for() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(
        dir.path(),
        &[
            ("ROSTER_AUTH_RATE_LIMIT_PER_IP", "4/10m"),
            ("ROSTER_AUTH_RATE_LIMIT_PER_IDENTIFIER", "off"),
        ],
    );
    // A client cannot dodge the limit by claiming other addresses: no proxy is trusted.
    for n in 0..4 {
        let forwarded = format!("198.51.100.{n}");
        let identifier = format!("user{n}@example.com");
        let r = fapi(
            &server,
            "/client/sign_ins",
            &[("identifier", identifier.as_str())],
            &[("x-forwarded-for", forwarded.as_str())],
        )
        .await;
        assert_eq!(r.body["errors"][0]["code"], "form_identifier_not_found");
    }
    let r = fapi(
        &server,
        "/client/sign_ins",
        &[("identifier", "user9@example.com")],
        &[("x-forwarded-for", "203.0.113.99")],
    )
    .await;
    assert_limited(&r, 1200, "fifth sign-in from one address");

    // Sign-ups have their own counter.
    for n in 0..4 {
        let email = format!("new{n}@example.com");
        let r = fapi(
            &server,
            "/client/sign_ups",
            &[
                ("email_address", email.as_str()),
                ("password", "long enough pw"),
            ],
            &[],
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let r = fapi(
        &server,
        "/client/sign_ups",
        &[
            ("email_address", "new9@example.com"),
            ("password", "long enough pw"),
        ],
        &[],
    )
    .await;
    assert_limited(&r, 1200, "fifth sign-up from one address");
    let users: Value = server
        .http()
        .get(server.v1("/users/count"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        users["total_count"], 4,
        "the refused sign-up created nobody"
    );
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_count() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(
        dir.path(),
        &[
            ("ROSTER_AUTH_RATE_LIMIT_PER_IP", "2/10m"),
            ("ROSTER_TRUSTED_PROXIES", "127.0.0.1,10.0.0.0/8"),
        ],
    );
    let attempt = |client: &'static str| {
        let server = &server;
        async move {
            fapi(
                server,
                "/client/sign_ins",
                &[("identifier", "nobody@example.com")],
                // The client forged a first hop; a second proxy in 10/8 appended the real one.
                &[("x-forwarded-for", &format!("6.6.6.6, {client}, 10.0.0.5"))],
            )
            .await
        }
    };
    assert_eq!(attempt("198.51.100.1").await.status, 422);
    assert_eq!(attempt("198.51.100.1").await.status, 422);
    assert_limited(
        &attempt("198.51.100.1").await,
        1200,
        "third from one client",
    );
    assert_eq!(
        attempt("198.51.100.2").await.status,
        422,
        "another client behind the same proxy"
    );
}

#[tokio::test]
async fn two_processes_on_one_database_share_every_counter() {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("ROSTER_AUTH_RATE_LIMIT_PER_IP", "10/10m"),
        ("ROSTER_AUTH_RATE_LIMIT_PER_IDENTIFIER", "4/10m"),
    ];
    let a = Server::start_in(dir.path(), &env);
    let b = Server::start_in(dir.path(), &env);
    create_user(&a, "grace@example.com", "grace", "right password").await;

    // Four wrong passwords for one identifier, alternating between the processes...
    for server in [&a, &b, &a, &b] {
        assert_eq!(sign_in(server, "grace", "wrong guess").await.status, 422);
    }
    // ...exhaust it on both.
    assert_limited(
        &sign_in(&a, "grace", "right password").await,
        1200,
        "a, identifier",
    );
    assert_limited(
        &sign_in(&b, "grace", "right password").await,
        1200,
        "b, identifier",
    );

    // Those six attempts and four more exhaust the address on both as well.
    for (n, server) in [&a, &b, &a, &b].into_iter().enumerate() {
        let identifier = format!("other{n}@example.com");
        let r = sign_in(server, &identifier, "whatever").await;
        assert_eq!(r.body["errors"][0]["code"], "form_identifier_not_found");
    }
    assert_limited(
        &sign_in(&a, "someone@example.com", "x").await,
        1200,
        "a, address",
    );
    assert_limited(
        &sign_in(&b, "someone@example.com", "x").await,
        1200,
        "b, address",
    );
}

#[tokio::test]
async fn the_lockout_shows_in_the_backend_api_user() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(
        dir.path(),
        &[
            ("ROSTER_AUTH_RATE_LIMIT_PER_IP", "off"),
            ("ROSTER_AUTH_RATE_LIMIT_PER_IDENTIFIER", "off"),
        ],
    );
    let id = create_user(&server, "grace@example.com", "grace", "right password").await;
    let fresh = bapi_user(&server, &id).await;
    assert_eq!(
        (
            &fresh["locked"],
            &fresh["lockout_expires_in_seconds"],
            &fresh["verification_attempts_remaining"]
        ),
        (&json!(false), &Value::Null, &json!(100)),
        "Clerk's default: 100 attempts"
    );
    assert_eq!(sign_in(&server, "grace", "wrong guess").await.status, 422);
    assert_eq!(
        bapi_user(&server, &id).await["verification_attempts_remaining"],
        99
    );
    assert_eq!(
        two_step_sign_in(&server, "grace", "wrong guess")
            .await
            .status,
        422
    );
    assert_eq!(
        bapi_user(&server, &id).await["verification_attempts_remaining"],
        98
    );

    // The rest at once: concurrent failures are each counted, none lost.
    let mut tasks = Vec::new();
    for _ in 0..98 {
        let url = format!("{}/fapi/v1/client/sign_ins", server.url);
        tasks.push(tokio::spawn(async move {
            reqwest::Client::new()
                .post(url)
                .form(&[
                    ("strategy", "password"),
                    ("identifier", "grace"),
                    ("password", "guess"),
                ])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    for t in tasks {
        let status = t.await.unwrap();
        assert!(matches!(status, 422 | 403), "{status}");
    }
    let locked = bapi_user(&server, &id).await;
    assert_eq!(locked["locked"], true, "{locked}");
    let expires = locked["lockout_expires_in_seconds"].as_i64().unwrap();
    assert!(
        (3590..=3600).contains(&expires),
        "Clerk's default: one hour, got {expires}"
    );
    assert_eq!(locked["verification_attempts_remaining"], 0);

    let r = sign_in(&server, "grace", "right password").await;
    assert_eq!(
        (r.status, r.body["errors"][0]["code"].as_str()),
        (403, Some("user_locked"))
    );
    // The Frontend API's environment advertises the same policy.
    let env: Value = reqwest::get(format!("{}/fapi/v1/environment", server.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        env["user_settings"]["attack_protection"]["user_lockout"],
        json!({"enabled": true, "max_attempts": 100, "duration_in_minutes": 60})
    );
}

async fn list_users(server: &Server) -> Reply {
    reply(server.http().get(server.v1("/users")).send().await.unwrap()).await
}

#[tokio::test]
async fn the_backend_api_limit_is_off_by_default_and_on_when_configured() {
    let unlimited = Server::start();
    for _ in 0..150 {
        assert_eq!(list_users(&unlimited).await.status, 200);
    }

    let dir = tempfile::tempdir().unwrap();
    let limited = Server::start_in(dir.path(), &[("ROSTER_BAPI_RATE_LIMIT", "5/1m")]);
    // Requests without a valid key are refused before they count.
    for _ in 0..3 {
        let r = reqwest::Client::new()
            .get(limited.v1("/users"))
            .bearer_auth("sk_test_wrong")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    }
    for _ in 0..5 {
        assert_eq!(list_users(&limited).await.status, 200);
    }
    assert_limited(
        &list_users(&limited).await,
        120,
        "sixth Backend API request",
    );
    let jwks = limited
        .http()
        .get(limited.v1("/jwks"))
        .send()
        .await
        .unwrap();
    assert_eq!(jwks.status(), 200, "the JWKS is never limited");
    // The Frontend API has its own limits.
    let env = reqwest::get(format!("{}/fapi/v1/environment", limited.url))
        .await
        .unwrap();
    assert_eq!(env.status(), 200);
}

#[tokio::test]
async fn handshakes_without_a_signed_in_client_are_counted_per_address() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), &[("ROSTER_AUTH_RATE_LIMIT_PER_IP", "3/10m")]);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let url = format!(
        "{}/fapi/v1/client/handshake?redirect_url={}",
        server.url,
        format!("{}/page", server.url)
            .replace(':', "%3A")
            .replace('/', "%2F")
    );
    // A client that is not signed in is anybody's for one empty sign-in: it counts the same.
    let empty = http
        .post(format!("{}/fapi/v1/client/sign_ins", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(empty.status(), 200);
    let cookie = empty.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    // Each costs a signature, so after the limit the address is refused.
    for n in 0..3 {
        let mut req = http.get(&url);
        if n > 0 {
            req = req.header("Cookie", &cookie);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 307, "handshake {n}");
    }
    let refused = http
        .get(&url)
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
}

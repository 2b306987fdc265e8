#![allow(clippy::expect_used, clippy::unwrap_used)]
//! The Frontend API at the HTTP level, as clerk-js speaks it: form bodies, `_method`, the
//! `__client` cookie, `{response, client}` envelopes. Tier rules: private metadata never appears,
//! the frontend writes only unsafe metadata.

mod support;

use serde_json::{json, Value};
use support::Server;

const ORIGIN: &str = "http://localhost:3000";

struct Browser {
    http: reqwest::Client,
    base: String,
    cookie: Option<String>,
    /// The `__client_uat` cookie, sent back like a browser does.
    uat: Option<String>,
}

impl Browser {
    fn new(server: &Server) -> Browser {
        Browser {
            // As a desktop Chrome says who it is.
            http: reqwest::Client::builder()
                .user_agent("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.85 Safari/537.36")
                .build()
                .unwrap(),
            base: format!("{}/fapi/v1", server.url),
            cookie: None,
            uat: None,
        }
    }

    /// Signs this browser up with an email address and a password; the response body.
    async fn sign_up(&mut self, email: &str) -> Value {
        let (status, body, _) = self
            .send(
                "POST",
                "/client/sign_ups",
                &[("email_address", email), ("password", "long enough pw")],
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Sends the request and asserts it was refused with this status, error code and (when
    /// given) `meta.param_name`.
    async fn refused(
        &mut self,
        (method, path): (&str, &str),
        form: &[(&str, &str)],
        (status, code): (u16, &str),
        param: Option<&str>,
    ) {
        let (got, err, _) = self.send(method, path, form).await;
        assert_eq!(
            (got, err["errors"][0]["code"].as_str()),
            (status, Some(code)),
            "{method} {path}: {err}"
        );
        if let Some(param) = param {
            assert_eq!(err["errors"][0]["meta"]["param_name"], param, "{err}");
        }
    }

    async fn send(
        &mut self,
        method: &str,
        path: &str,
        form: &[(&str, &str)],
    ) -> (u16, Value, Vec<String>) {
        let sep = if path.contains('?') { '&' } else { '?' };
        let (http_method, url) = match method {
            "GET" => (reqwest::Method::GET, format!("{}{path}", self.base)),
            "POST" => (reqwest::Method::POST, format!("{}{path}", self.base)),
            other => (
                reqwest::Method::POST,
                format!("{}{path}{sep}_method={other}", self.base),
            ),
        };
        let mut req = self.http.request(http_method, url).header("Origin", ORIGIN);
        if let Some(c) = &self.cookie {
            let uat = self
                .uat
                .as_ref()
                .map(|u| format!("; __client_uat={u}"))
                .unwrap_or_default();
            req = req.header("Cookie", format!("__client={c}{uat}"));
        }
        if !form.is_empty() {
            req = req.form(form);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let cookies: Vec<String> = resp
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        for c in &cookies {
            if let Some(v) = c.strip_prefix("__client=") {
                self.cookie = Some(v.split(';').next().unwrap().to_owned());
            }
            if let Some(v) = c.strip_prefix("__client_uat=") {
                self.uat = Some(v.split(';').next().unwrap().to_owned());
            }
        }
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
            cookies,
        )
    }
}

/// The session a `{response, client}` envelope's client is signed in with.
fn active_session_id(envelope: &Value) -> String {
    envelope["client"]["last_active_session_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no active session in {envelope}"))
        .to_owned()
}

fn claims(jwt: &str) -> Value {
    use base64::Engine;
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

async fn bapi(server: &Server, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
    let mut req = server.http().request(method, server.v1(path));
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.unwrap().json().await.unwrap()
}

#[tokio::test]
async fn sign_up_me_and_tokens_keep_the_tier_rules() {
    let server = Server::start();
    let mut browser = Browser::new(&server);

    let (status, env, _) = browser.send("GET", "/environment", &[]).await;
    assert_eq!((status, env["object"].as_str()), (200, Some("environment")));
    assert_eq!(env["user_settings"]["sign_up"]["captcha_enabled"], false);
    let (status, client, _) = browser
        .send("GET", "/client?__clerk_api_version=2026-05-12", &[])
        .await;
    assert_eq!(
        (status, client),
        (200, json!({"response": null, "client": null}))
    );

    // A frontend cannot set privileged tiers at sign-up, and nothing is created.
    let (status, err, _) = browser
        .send(
            "POST",
            "/client/sign_ups",
            &[
                ("email_address", "eve@example.com"),
                ("password", "long enough pw"),
                ("public_metadata", "{\"role\":\"admin\"}"),
            ],
        )
        .await;
    assert_eq!(
        (status, err["errors"][0]["code"].as_str()),
        (422, Some("form_param_unknown"))
    );
    assert_eq!(
        bapi(&server, reqwest::Method::GET, "/users/count", None).await["total_count"],
        0
    );

    let (status, body, cookies) = browser
        .send(
            "POST",
            "/client/sign_ups",
            &[
                ("email_address", "ada@example.com"),
                ("password", "correct horse"),
                ("first_name", "Ada"),
                (
                    "unsafe_metadata",
                    "{\"birthday\":\"1815-12-10\",\"company\":\"Analytical\"}",
                ),
                ("locale", "en-GB"),
                ("strategy", "password"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["response"]["status"], "complete");
    let user_id = body["response"]["created_user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let session_id = body["response"]["created_session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let client_cookie = cookies.iter().find(|c| c.starts_with("__client=")).unwrap();
    assert!(
        client_cookie.contains("HttpOnly")
            && client_cookie.contains("SameSite=Lax")
            && !client_cookie.contains("Secure")
    );
    let session = &body["client"]["sessions"][0];
    assert_eq!(session["id"], session_id.as_str());
    assert_eq!(session["user"]["unsafe_metadata"]["birthday"], "1815-12-10");
    assert_eq!(body["response"]["locale"], "en-GB");
    let created = bapi(
        &server,
        reqwest::Method::GET,
        &format!("/users/{user_id}"),
        None,
    )
    .await;
    assert_eq!(
        created["locale"], "en-GB",
        "the sign-up's locale is the user's"
    );
    let jwt = session["last_active_token"]["jwt"].as_str().unwrap();
    assert_eq!(claims(jwt)["azp"], ORIGIN);
    assert_eq!(claims(jwt)["sid"], session_id.as_str());

    // The Backend API sees the unsafe metadata copied to the user; private metadata stays there.
    let user = bapi(
        &server,
        reqwest::Method::GET,
        &format!("/users/{user_id}"),
        None,
    )
    .await;
    assert_eq!(
        user["unsafe_metadata"],
        json!({"birthday": "1815-12-10", "company": "Analytical"})
    );
    bapi(&server, reqwest::Method::PATCH, &format!("/users/{user_id}/metadata"),
         Some(json!({"private_metadata": {"stripe": "cus_SECRET_VALUE"}, "public_metadata": {"role": "member"}}))).await;

    let (status, me, _) = browser
        .send("GET", &format!("/me?_clerk_session_id={session_id}"), &[])
        .await;
    assert_eq!(status, 200, "{me}");
    assert!(me["response"].get("private_metadata").is_none());
    assert!(!me.to_string().contains("cus_SECRET_VALUE"));
    assert_eq!(me["response"]["public_metadata"], json!({"role": "member"}));

    // clerk-js 6: PATCH /me/metadata merges into unsafe metadata.
    let (status, merged, _) = browser
        .send(
            "PATCH",
            "/me/metadata",
            &[(
                "unsafe_metadata",
                "{\"birthday\":\"1815-12-11\",\"company\":null}",
            )],
        )
        .await;
    assert_eq!(status, 200, "{merged}");
    assert_eq!(
        merged["response"]["unsafe_metadata"],
        json!({"birthday": "1815-12-11"})
    );
    // No privileged tier, and no oversized unsafe tier, and nothing changes.
    for (form, code) in [
        (
            vec![
                ("unsafe_metadata", "{}"),
                ("public_metadata", "{\"role\":\"admin\"}"),
            ],
            "form_param_unknown",
        ),
        (
            vec![("private_metadata", "{\"stripe\":\"x\"}")],
            "form_param_unknown",
        ),
        (
            vec![(
                "unsafe_metadata",
                &*format!("{{\"big\":\"{}\"}}", "x".repeat(9000)),
            )],
            "form_param_exceeds_allowed_size",
        ),
        (
            vec![("unsafe_metadata", "[1,2]")],
            "form_param_value_invalid",
        ),
    ] {
        let (status, err, _) = browser.send("PATCH", "/me/metadata", &form).await;
        assert_eq!(
            (status, err["errors"][0]["code"].as_str()),
            (422, Some(code)),
            "{form:?}"
        );
    }
    let user = bapi(
        &server,
        reqwest::Method::GET,
        &format!("/users/{user_id}"),
        None,
    )
    .await;
    assert_eq!(user["public_metadata"], json!({"role": "member"}));
    assert_eq!(
        user["private_metadata"],
        json!({"stripe": "cus_SECRET_VALUE"})
    );
    assert_eq!(user["unsafe_metadata"], json!({"birthday": "1815-12-11"}));

    // clerk-js 5 (API 2025-11-10): unsafe metadata on PATCH /me replaces; 2026-05-12 refuses it.
    let (status, replaced, _) = browser
        .send(
            "PATCH",
            "/me?__clerk_api_version=2025-11-10",
            &[
                ("first_name", "Augusta"),
                ("unsafe_metadata", "{\"only\":true}"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{replaced}");
    assert_eq!(
        (
            replaced["response"]["first_name"].as_str(),
            &replaced["response"]["unsafe_metadata"]
        ),
        (Some("Augusta"), &json!({"only": true}))
    );
    let (status, refused, _) = browser
        .send(
            "PATCH",
            "/me?__clerk_api_version=2026-05-12",
            &[("unsafe_metadata", "{\"x\":1}")],
        )
        .await;
    assert_eq!(status, 422);
    let advice = refused["errors"][0]["long_message"].as_str().unwrap();
    assert!(advice.contains("/v1/me/metadata"), "{advice}");

    // Primary identifiers must be the user's own.
    let (status, refused, _) = browser
        .send("PATCH", "/me", &[("primary_email_address_id", "idn_x")])
        .await;
    assert_eq!(
        (status, refused["errors"][0]["meta"]["param_name"].as_str()),
        (422, Some("primary_email_address_id")),
        "{refused}"
    );
    let (_, me, _) = browser.send("GET", "/me", &[]).await;
    let own = me["response"]["email_addresses"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, updated, _) = browser
        .send("PATCH", "/me", &[("primary_email_address_id", &own)])
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(
        updated["response"]["primary_email_address_id"],
        own.as_str()
    );

    // Tokens from the frontend carry azp and the custom claims.
    let (status, token, _) = browser
        .send(
            "POST",
            &format!("/client/sessions/{session_id}/tokens"),
            &[("organization_id", "")],
        )
        .await;
    assert_eq!(status, 200, "{token}");
    assert_eq!(
        (
            token["object"].as_str(),
            claims(token["jwt"].as_str().unwrap())["azp"].as_str()
        ),
        (Some("token"), Some(ORIGIN))
    );

    // A user whose self-deletion is disabled cannot delete themself from the frontend.
    bapi(
        &server,
        reqwest::Method::PATCH,
        &format!("/users/{user_id}"),
        Some(json!({"delete_self_enabled": false})),
    )
    .await;
    let (status, _, _) = browser.send("DELETE", "/me", &[]).await;
    assert_eq!(status, 403);

    // Sign-out removes the sessions and rotates the client; the old cookie value is worthless.
    let before = browser.cookie.clone();
    let (status, out, _) = browser.send("DELETE", "/client/sessions", &[]).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["response"]["sessions"], json!([]));
    assert_ne!(browser.cookie, before);
    let (status, _, _) = browser.send("GET", "/me", &[]).await;
    assert_eq!(status, 401);
    browser.cookie = before;
    let (_, client, _) = browser.send("GET", "/client", &[]).await;
    assert_eq!(
        client,
        json!({"response": null, "client": null}),
        "the pre-rotation cookie names no client"
    );
    let (_, session) = (
        0,
        bapi(
            &server,
            reqwest::Method::GET,
            &format!("/sessions/{session_id}"),
            None,
        )
        .await,
    );
    assert_eq!(session["status"], "removed");
}

#[tokio::test]
async fn password_sign_in_rotates_the_client_and_locks_after_repeated_failures() {
    // A hundred wrong passwords from one address: the rate limits (tests/rate_limits.rs) would
    // refuse most of them long before the lockout this test is about.
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(
        dir.path(),
        &[
            ("ROSTER_AUTH_RATE_LIMIT_PER_IP", "off"),
            ("ROSTER_AUTH_RATE_LIMIT_PER_IDENTIFIER", "off"),
        ],
    );
    let user = bapi(&server, reqwest::Method::POST, "/users",
        Some(json!({"email_address": ["grace@example.com"], "username": "grace", "password": "right password"}))).await;
    let user_id = user["id"].as_str().unwrap().to_owned();
    let mut browser = Browser::new(&server);

    let (status, err, _) = browser
        .send(
            "POST",
            "/client/sign_ins",
            &[
                ("strategy", "password"),
                ("identifier", "nobody@example.com"),
                ("password", "whatever1"),
            ],
        )
        .await;
    assert_eq!(
        (status, err["errors"][0]["code"].as_str()),
        (422, Some("form_identifier_not_found"))
    );
    let (status, err, _) = browser
        .send(
            "POST",
            "/client/sign_ins",
            &[
                ("strategy", "password"),
                ("identifier", "grace@example.com"),
                ("password", "wrong password"),
            ],
        )
        .await;
    assert_eq!(
        (status, err["errors"][0]["code"].as_str()),
        (422, Some("form_password_incorrect"))
    );
    let after_wrong = bapi(
        &server,
        reqwest::Method::GET,
        &format!("/users/{user_id}"),
        None,
    )
    .await;
    assert_eq!(after_wrong["verification_attempts_remaining"], 99);

    // Two steps: identifier, then the password. The client's secret rotates on success.
    let (status, created, _) = browser
        .send("POST", "/client/sign_ins", &[("identifier", "GRACE")])
        .await;
    assert_eq!(
        (status, created["response"]["status"].as_str()),
        (200, Some("needs_first_factor")),
        "{created}"
    );
    let attempt = created["response"]["id"].as_str().unwrap().to_owned();
    // The client carries the attempt in progress: clerk-js reads `clerk.client.signIn` from it.
    assert_eq!(
        created["client"]["sign_in"]["id"], attempt,
        "{}",
        created["client"]
    );
    assert_eq!(created["client"]["sign_in"]["status"], "needs_first_factor");
    let (_, fetched, _) = browser.send("GET", "/client", &[]).await;
    assert_eq!(fetched["response"]["sign_in"]["id"], attempt, "{fetched}");
    let before = browser.cookie.clone();
    let (status, done, _) = browser
        .send(
            "POST",
            &format!("/client/sign_ins/{attempt}/attempt_first_factor"),
            &[("strategy", "password"), ("password", "right password")],
        )
        .await;
    assert_eq!(
        (status, done["response"]["status"].as_str()),
        (200, Some("complete")),
        "{done}"
    );
    assert_ne!(
        browser.cookie, before,
        "no session fixation: the cookie rotates on sign-in"
    );
    let session_id = done["response"]["created_session_id"].as_str().unwrap();
    assert_eq!(done["client"]["last_active_session_id"], session_id);
    let (status, me, _) = browser.send("GET", "/me", &[]).await;
    assert_eq!(
        (status, me["response"]["id"].as_str()),
        (200, Some(user_id.as_str()))
    );
    let signed_in = bapi(
        &server,
        reqwest::Method::GET,
        &format!("/users/{user_id}"),
        None,
    )
    .await;
    assert_eq!(
        signed_in["verification_attempts_remaining"], 100,
        "success resets the count"
    );
    assert!(signed_in["last_sign_in_at"].is_i64());

    // Repeated wrong passwords lock the account (Clerk's default: 100 attempts, one hour).
    let mut attacker = Browser::new(&server);
    for _ in 0..100 {
        let (status, _, _) = attacker
            .send(
                "POST",
                "/client/sign_ins",
                &[
                    ("strategy", "password"),
                    ("identifier", "grace"),
                    ("password", "guess guess"),
                ],
            )
            .await;
        assert_eq!(status, 422);
    }
    let locked = bapi(
        &server,
        reqwest::Method::GET,
        &format!("/users/{user_id}"),
        None,
    )
    .await;
    assert_eq!(locked["locked"], true);
    assert!(locked["lockout_expires_in_seconds"].as_i64().unwrap() > 3500);
    let (status, err, _) = attacker
        .send(
            "POST",
            "/client/sign_ins",
            &[
                ("strategy", "password"),
                ("identifier", "grace"),
                ("password", "right password"),
            ],
        )
        .await;
    assert_eq!(
        (status, err["errors"][0]["code"].as_str()),
        (403, Some("user_locked"))
    );
    bapi(
        &server,
        reqwest::Method::POST,
        &format!("/users/{user_id}/unlock"),
        None,
    )
    .await;
    let (status, _, _) = attacker
        .send(
            "POST",
            "/client/sign_ins",
            &[
                ("strategy", "password"),
                ("identifier", "grace"),
                ("password", "right password"),
            ],
        )
        .await;
    assert_eq!(status, 200);
    let (status, deleted, _) = attacker.send("DELETE", "/me", &[]).await;
    assert_eq!(
        (status, deleted["response"]["deleted"].as_bool()),
        (200, Some(true)),
        "{deleted}"
    );
    let (status, _, _) = attacker.send("GET", "/me", &[]).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn a_signed_in_client_starts_no_second_sign_in_or_sign_up() {
    let server = Server::start();
    let mut browser = Browser::new(&server);
    browser.sign_up("one@example.com").await;
    // The environment says single-session mode; a second account on this client is refused.
    let (_, env, _) = browser.send("GET", "/environment", &[]).await;
    assert_eq!(env["auth_config"]["single_session_mode"], true);
    for (path, form) in [
        (
            "/client/sign_ins",
            vec![
                ("identifier", "one@example.com"),
                ("password", "long enough pw"),
                ("strategy", "password"),
            ],
        ),
        (
            "/client/sign_ups",
            vec![
                ("email_address", "two@example.com"),
                ("password", "long enough pw"),
            ],
        ),
    ] {
        let (status, refused, _) = browser.send("POST", path, &form).await;
        assert_eq!(
            (status, refused["errors"][0]["code"].as_str()),
            (400, Some("session_exists")),
            "{path}: {refused}"
        );
    }
    assert_eq!(
        bapi(&server, reqwest::Method::GET, "/users/count", None).await["total_count"],
        1,
        "the refused sign-up created nobody"
    );
    // Nor by finishing, once signed in, a sign-in started while signed out (a second account).
    let mut other = Browser::new(&server);
    let (status, started, _) = other
        .send(
            "POST",
            "/client/sign_ins",
            &[("identifier", "one@example.com")],
        )
        .await;
    assert_eq!(status, 200, "{started}");
    let attempt = started["response"]["id"].as_str().unwrap().to_owned();
    other.sign_up("three@example.com").await;
    let (status, refused, _) = other
        .send(
            "POST",
            &format!("/client/sign_ins/{attempt}/attempt_first_factor"),
            &[("strategy", "password"), ("password", "long enough pw")],
        )
        .await;
    assert_eq!(
        (status, refused["errors"][0]["code"].as_str()),
        (400, Some("session_exists")),
        "{refused}"
    );
    // Signed out, the same client signs in again.
    let (status, _, _) = browser.send("DELETE", "/client/sessions", &[]).await;
    assert_eq!(status, 200);
    let (status, signed_in, _) = browser
        .send(
            "POST",
            "/client/sign_ins",
            &[
                ("identifier", "one@example.com"),
                ("password", "long enough pw"),
                ("strategy", "password"),
            ],
        )
        .await;
    assert_eq!(
        (status, signed_in["response"]["status"].as_str()),
        (200, Some("complete")),
        "{signed_in}"
    );
}

/// The account pages clerk-js builds on: `user.getSessions()`, revoking another device,
/// `user.updatePassword()`, `session.reload()`, and a token asked for after the session ended.
#[tokio::test]
async fn sessions_and_password_from_the_account_page() {
    let server = Server::start();
    let mut browser = Browser::new(&server);
    let signed_up = browser.sign_up("ada@example.com").await;
    let sid = active_session_id(&signed_up);
    let user_id = signed_up["response"]["created_user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let q = format!("?_clerk_session_id={sid}");

    // session.reload()
    let (status, got, _) = browser
        .send("GET", &format!("/client/sessions/{sid}"), &[])
        .await;
    assert_eq!(
        (status, got["response"]["id"].as_str()),
        (200, Some(sid.as_str()))
    );

    // Another device, and another user's session.
    let other = bapi(
        &server,
        reqwest::Method::POST,
        "/sessions",
        Some(json!({"user_id": user_id})),
    )
    .await;
    let other_id = other["id"].as_str().unwrap().to_owned();
    let stranger = bapi(
        &server,
        reqwest::Method::POST,
        "/users",
        Some(json!({"email_address": ["eve@example.com"]})),
    )
    .await;
    let strangers = bapi(
        &server,
        reqwest::Method::POST,
        "/sessions",
        Some(json!({"user_id": stranger["id"]})),
    )
    .await;

    let (status, active, _) = browser
        .send("GET", &format!("/me/sessions/active{q}"), &[])
        .await;
    assert_eq!(status, 200, "{active}");
    let mut ids: Vec<&str> = active
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    let mut want = vec![sid.as_str(), other_id.as_str()];
    want.sort_unstable();
    assert_eq!(ids, want);
    // The device asking is described from its request; Roster keeps no history of the others.
    let activity_of = |id: &str| {
        active
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .unwrap()["latest_activity"]
            .clone()
    };
    let mine = activity_of(&sid);
    assert_eq!(
        (
            &mine["browser_name"],
            &mine["browser_version"],
            &mine["device_type"],
            &mine["is_mobile"],
            &mine["ip_address"]
        ),
        (
            &json!("Chrome"),
            &json!("131.0.6778.85"),
            &json!("Macintosh"),
            &json!(false),
            &json!("127.0.0.1")
        )
    );
    assert_eq!(activity_of(&other_id), Value::Null);

    let (status, _, _) = browser
        .send(
            "POST",
            &format!(
                "/me/sessions/{}/revoke{q}",
                strangers["id"].as_str().unwrap()
            ),
            &[],
        )
        .await;
    assert_eq!(status, 404, "another user's session is not mine to revoke");
    let (status, revoked, _) = browser
        .send("POST", &format!("/me/sessions/{other_id}/revoke{q}"), &[])
        .await;
    assert_eq!(
        (status, revoked["response"]["status"].as_str()),
        (200, Some("revoked")),
        "{revoked}"
    );
    let (_, active, _) = browser
        .send("GET", &format!("/me/sessions/active{q}"), &[])
        .await;
    assert_eq!(active.as_array().unwrap().len(), 1);

    // session.reload() of another client's session: not found.
    let (status, _, _) = browser
        .send("GET", &format!("/client/sessions/{other_id}"), &[])
        .await;
    assert_eq!(status, 404);

    // user.updatePassword(): the current one is checked like a sign-in, the new one meets the
    // policy, and a refusal changes nothing but the count of wrong passwords.
    let remaining = |user: &Value| user["verification_attempts_remaining"].as_i64();
    let user_path = format!("/users/{user_id}");
    let user_now = || bapi(&server, reqwest::Method::GET, &user_path, None);
    let before = remaining(&user_now().await);
    let change_path = format!("/me/change_password{q}");
    let change = |current: &'static str, new: &'static str| {
        vec![("current_password", current), ("new_password", new)]
    };
    let post = ("POST", change_path.as_str());
    browser
        .refused(
            post,
            &change("not it at all", "a new long password"),
            (422, "form_password_incorrect"),
            Some("current_password"),
        )
        .await;
    assert_eq!(
        remaining(&user_now().await),
        before.map(|n| n - 1),
        "a wrong password counts"
    );
    browser
        .refused(
            post,
            &change("long enough pw", "iloveyou123"),
            (422, "form_password_pwned"),
            Some("new_password"),
        )
        .await;
    browser
        .refused(
            post,
            &[("new_password", "a new long password")],
            (422, "form_param_missing"),
            Some("current_password"),
        )
        .await;
    browser
        .refused(
            post,
            &[
                ("current_password", "long enough pw"),
                ("new_password", "a new long password"),
                ("sign_out_of_other_sessions", "perhaps"),
            ],
            (422, "form_param_type_invalid"),
            Some("sign_out_of_other_sessions"),
        )
        .await;
    assert_eq!(
        remaining(&user_now().await),
        before.map(|n| n - 1),
        "refusals change nothing"
    );
    let verify = |password: &'static str| {
        let (server, user_id) = (&server, &user_id);
        async move {
            let res = server
                .http()
                .post(server.v1(&format!("/users/{user_id}/verify_password")))
                .json(&json!({"password": password}))
                .send()
                .await
                .unwrap();
            res.status().as_u16()
        }
    };
    assert_eq!(
        verify("long enough pw").await,
        200,
        "the password is still the old one"
    );

    // Without sign_out_of_other_sessions the other sessions stay; with it they go, this one stays.
    let second = bapi(
        &server,
        reqwest::Method::POST,
        "/sessions",
        Some(json!({"user_id": user_id})),
    )
    .await;
    let session_status = |id: Value| {
        let server = &server;
        async move {
            bapi(
                server,
                reqwest::Method::GET,
                &format!("/sessions/{}", id.as_str().unwrap()),
                None,
            )
            .await["status"]
                .clone()
        }
    };
    let (status, changed, _) = browser
        .send(
            "POST",
            &change_path,
            &change("long enough pw", "a new long password"),
        )
        .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["response"]["password_enabled"], true);
    assert_eq!(verify("a new long password").await, 200);
    assert_eq!(session_status(second["id"].clone()).await, "active");
    let mut form = change("a new long password", "another long password");
    form.push(("sign_out_of_other_sessions", "true"));
    let (status, changed, _) = browser.send("POST", &change_path, &form).await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(verify("another long password").await, 200);
    assert_eq!(
        session_status(second["id"].clone()).await,
        "revoked",
        "the other sessions are signed out"
    );
    let (status, _, _) = browser.send("GET", &format!("/me{q}"), &[]).await;
    assert_eq!(status, 200, "this session stays signed in");

    // A locked user changes nothing.
    bapi(
        &server,
        reqwest::Method::POST,
        &format!("/users/{user_id}/lock"),
        None,
    )
    .await;
    browser
        .refused(
            post,
            &change("another long password", "a fourth long password"),
            (403, "user_locked"),
            None,
        )
        .await;
    bapi(
        &server,
        reqwest::Method::POST,
        &format!("/users/{user_id}/unlock"),
        None,
    )
    .await;
    assert_eq!(verify("another long password").await, 200);

    // Revoked from the Backend API: the next token, plain or from a template, is Clerk's 401
    // signed_out, on which clerk-js signs the page out.
    bapi(
        &server,
        reqwest::Method::POST,
        "/jwt_templates",
        Some(json!({"name": "acct", "claims": {}})),
    )
    .await;
    bapi(
        &server,
        reqwest::Method::POST,
        &format!("/sessions/{sid}/revoke"),
        None,
    )
    .await;
    for path in [
        format!("/client/sessions/{sid}/tokens"),
        format!("/client/sessions/{sid}/tokens/acct"),
    ] {
        browser
            .refused(("POST", &path), &[], (401, "signed_out"), None)
            .await;
    }

    // Revoking the page's own session from the account page signs the client out.
    let mut again = Browser::new(&server);
    let (status, signed_in, _) = again
        .send(
            "POST",
            "/client/sign_ins",
            &[
                ("strategy", "password"),
                ("identifier", "ada@example.com"),
                ("password", "another long password"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{signed_in}");
    let own = active_session_id(&signed_in);
    let (status, revoked, cookies) = again
        .send(
            "POST",
            &format!("/me/sessions/{own}/revoke?_clerk_session_id={own}"),
            &[],
        )
        .await;
    assert_eq!(status, 200, "{revoked}");
    assert_eq!(revoked["client"]["last_active_session_id"], Value::Null);
    assert!(
        cookies.iter().any(|c| c.starts_with("__client_uat=0;")),
        "{cookies:?}"
    );
}

/// What clerk-js's profile page offers beyond Roster's model is refused with a 422 that says so,
/// and the default avatar is named as clerk-js's UI recognises a placeholder.
#[tokio::test]
async fn the_profile_page_learns_what_roster_does_not_keep() {
    let server = Server::start();
    let mut browser = Browser::new(&server);
    let signed_up = browser.sign_up("profile@example.com").await;
    let sid = active_session_id(&signed_up);
    let q = format!("?_clerk_session_id={sid}");
    for (method, path, param) in [
        ("POST", "/me/email_addresses", "email_address"),
        ("POST", "/me/profile_image", "file"),
        ("DELETE", "/me/profile_image", "file"),
    ] {
        let path = format!("{path}{q}");
        browser
            .refused(
                (method, &path),
                &[("email_address", "second@example.com")],
                (422, "form_param_value_invalid"),
                Some(param),
            )
            .await;
    }
    let image_url = signed_up["client"]["sessions"][0]["user"]["image_url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        image_url.ends_with("/avatars/avatar_placeholder.svg"),
        "{image_url}"
    );
    for url in [image_url, format!("{}/avatars/default.svg", server.url)] {
        let res = reqwest::get(&url).await.unwrap();
        assert_eq!(res.status().as_u16(), 200, "{url}");
        assert_eq!(res.headers()["content-type"], "image/svg+xml");
    }
}

/// Clerk's guides verify the email address right after `signUp.create`; Roster sends no email
/// and the sign-up is complete already, so both steps say so.
#[tokio::test]
async fn email_verification_steps_say_the_address_is_verified() {
    let server = Server::start();
    let mut browser = Browser::new(&server);
    let signed_up = browser.sign_up("verify@example.com").await;
    assert_eq!(signed_up["response"]["status"], "complete");
    let id = signed_up["response"]["id"].as_str().unwrap().to_owned();
    for (step, form) in [
        ("prepare_verification", vec![("strategy", "email_code")]),
        (
            "attempt_verification",
            vec![("strategy", "email_code"), ("code", "123456")],
        ),
    ] {
        let path = format!("/client/sign_ups/{id}/{step}");
        browser
            .refused(
                ("POST", &path),
                &form,
                (400, "verification_already_verified"),
                None,
            )
            .await;
    }
    let (status, _, _) = browser
        .send(
            "POST",
            "/client/sign_ups/sua_nothing/prepare_verification",
            &[("strategy", "email_code")],
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_breached_password_signs_nobody_up() {
    let server = Server::start();
    let mut browser = Browser::new(&server);
    let (status, body, _) = browser
        .send(
            "POST",
            "/client/sign_ups",
            &[
                ("email_address", "pwned@example.com"),
                ("password", "Password123"),
            ],
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["code"], "form_password_pwned");
    assert_eq!(body["errors"][0]["meta"]["param_name"], "password");
    let users = bapi(
        &server,
        reqwest::Method::GET,
        "/users?email_address=pwned@example.com",
        None,
    )
    .await;
    assert_eq!(users, json!([]));
    browser.sign_up("pwned@example.com").await;
}

#[tokio::test]
async fn destroying_the_client_signs_out_and_forgets_the_browser() {
    let server = Server::start();
    let mut browser = Browser::new(&server);
    let body = browser.sign_up("gone@example.com").await;
    let sid = body["response"]["created_session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let old_cookie = browser.cookie.clone();
    let (status, destroyed, cookies) = browser.send("DELETE", "/client", &[]).await;
    assert_eq!(status, 200, "{destroyed}");
    assert_eq!(destroyed["response"]["sessions"], json!([]));
    assert_eq!(destroyed["client"], Value::Null);
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("__client=;") && c.contains("Max-Age=0")),
        "{cookies:?}"
    );
    assert!(
        cookies.iter().any(|c| c.starts_with("__client_uat=0")),
        "{cookies:?}"
    );
    let session = bapi(
        &server,
        reqwest::Method::GET,
        &format!("/sessions/{sid}"),
        None,
    )
    .await;
    assert_eq!(session["status"], "removed");
    // The old cookie names no client any more.
    browser.cookie = old_cookie;
    let (status, client, _) = browser.send("GET", "/client", &[]).await;
    assert_eq!(
        (status, &client["response"]),
        (200, &Value::Null),
        "{client}"
    );
    // Destroying with it clears the cookies all the same.
    let (status, _, cookies) = browser.send("DELETE", "/client", &[]).await;
    assert_eq!(status, 200);
    assert!(
        cookies.iter().any(|c| c.starts_with("__client=;")),
        "{cookies:?}"
    );
}

#[tokio::test]
async fn an_imported_digest_becomes_argon2id_at_the_first_sign_in() {
    let server = Server::start();
    // md5("password"), as a system being migrated from stored it.
    let created = bapi(
        &server,
        reqwest::Method::POST,
        "/users",
        Some(json!({
            "email_address": ["migrated@example.com"],
            "password_digest": "5f4dcc3b5aa765d61d8327deb882cf99",
            "password_hasher": "md5",
        })),
    )
    .await;
    assert_eq!(created["password_enabled"], true, "{created}");
    assert!(
        support::database_contents(&server).contains("import$md5$5f4dcc3b5aa765d61d8327deb882cf99")
    );
    let sign_in = [
        ("identifier", "migrated@example.com"),
        ("password", "password"),
        ("strategy", "password"),
    ];
    let mut browser = Browser::new(&server);
    let (status, body, _) = browser.send("POST", "/client/sign_ins", &sign_in).await;
    assert_eq!(
        (status, body["response"]["status"].as_str()),
        (200, Some("complete")),
        "{body}"
    );
    // (SQLite's write-ahead log keeps the old row's bytes a while, so the check is that an
    // Argon2id digest now exists: none did before the sign-in.)
    let stored = support::database_contents(&server);
    assert!(stored.contains("$argon2id$"), "the digest was upgraded");
    // The same password still signs in, now against Argon2id.
    let mut again = Browser::new(&server);
    let (status, body, _) = again.send("POST", "/client/sign_ins", &sign_in).await;
    assert_eq!(
        (status, body["response"]["status"].as_str()),
        (200, Some("complete")),
        "{body}"
    );
}

#[tokio::test]
async fn client_uat_drops_to_zero_when_the_last_session_ends() {
    let server = Server::start();
    let signed_in = |b: &Browser| b.uat.as_deref().is_some_and(|u| u != "0");
    // Each way a browser's last session can end: ended, removed, its user deleted.
    for (n, (method, path)) in [
        ("POST", "/client/sessions/{sid}/end"),
        ("POST", "/client/sessions/{sid}/remove"),
        ("DELETE", "/me"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut browser = Browser::new(&server);
        let email = format!("uat{n}@example.com");
        let body = browser.sign_up(&email).await;
        assert!(signed_in(&browser), "{:?}", browser.uat);
        let sid = body["response"]["created_session_id"].as_str().unwrap();
        let (status, body, _) = browser.send(method, &path.replace("{sid}", sid), &[]).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert_eq!(browser.uat.as_deref(), Some("0"), "{path}");
        // Nothing more to say once it is 0.
        let (_, _, cookies) = browser.send("GET", "/client", &[]).await;
        assert!(cookies.is_empty(), "{cookies:?}");
    }
}

#[tokio::test]
async fn cors_allows_configured_origins_only() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(
        dir.path(),
        &[(
            "ROSTER_ALLOWED_ORIGINS",
            "http://localhost:3000, http://app.test",
        )],
    );
    let http = reqwest::Client::new();
    let url = |p: &str| format!("{}/fapi/v1{p}", server.url);

    let pre = http
        .request(reqwest::Method::OPTIONS, url("/client/sign_ups"))
        .header("Origin", ORIGIN)
        .send()
        .await
        .unwrap();
    assert_eq!(pre.status(), 204);
    assert_eq!(pre.headers()["access-control-allow-origin"], ORIGIN);
    assert_eq!(pre.headers()["access-control-allow-credentials"], "true");
    let env = http
        .get(url("/environment"))
        .header("Origin", "http://app.test")
        .send()
        .await
        .unwrap();
    assert_eq!(
        env.headers()["access-control-allow-origin"],
        "http://app.test"
    );
    let other = http
        .get(url("/environment"))
        .header("Origin", "http://evil.test")
        .send()
        .await
        .unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());

    // A cookie-authenticated write from an origin that is not allowed is refused outright.
    let mut browser = Browser::new(&server);
    browser.sign_up("c@example.com").await;
    let cookie = browser.cookie.clone().unwrap();
    let write_from = |origin: String| {
        http.post(url("/me/metadata?_method=PATCH"))
            .header("Origin", origin)
            .header("Cookie", format!("__client={cookie}"))
            .form(&[("unsafe_metadata", "{\"pwned\":true}")])
            .send()
    };
    // Another site, and origins that are a prefix of Roster's own (a shorter port, no port).
    let port_prefix = &server.url[..server.url.len() - 1];
    let host_only = server.url.rsplit_once(':').unwrap().0;
    for origin in ["http://evil.test", port_prefix, host_only] {
        let forged = write_from(origin.to_owned()).await.unwrap();
        assert_eq!(forged.status(), 403, "{origin}");
        let body: Value = forged.json().await.unwrap();
        assert_eq!(body["errors"][0]["code"], "origin_invalid");
    }
    let users = bapi(&server, reqwest::Method::GET, "/users", None).await;
    assert_eq!(users[0]["unsafe_metadata"], json!({}), "nothing changed");
    // An opaque origin (a sandboxed frame, a POST redirected across origins) is foreign too.
    let opaque = write_from("null".to_owned()).await.unwrap();
    assert_eq!(opaque.status(), 403);
    // Roster's own origin is not cross-origin.
    let own = write_from(server.url.clone()).await.unwrap();
    assert_eq!(own.status(), 200);
    // Nor is a page behind a same-origin proxy, which the browser marks as same-origin while
    // its Origin is the app's.
    let proxied = http
        .post(url("/me/metadata?_method=PATCH"))
        .header("Origin", "http://proxied.app.example")
        .header("Sec-Fetch-Site", "same-origin")
        .header("Cookie", format!("__client={cookie}"))
        .form(&[("unsafe_metadata", "{\"proxied\":true}")])
        .send()
        .await
        .unwrap();
    assert_eq!(proxied.status(), 200);
}

/// With no allowed origins (the default), the browser's own word decides: `SameSite=Lax` lets the
/// cookie ride on same-site requests, from another port of the host or a sibling subdomain.
#[tokio::test]
async fn same_site_pages_cannot_write_with_the_cookie() {
    let server = Server::start();
    let mut browser = Browser::new(&server);
    browser.sign_up("site@example.com").await;
    let cookie = browser.cookie.clone().unwrap();
    let write = |headers: &[(&str, &str)], n: u32| {
        let mut req = reqwest::Client::new()
            .post(format!("{}/fapi/v1/me/metadata?_method=PATCH", server.url))
            .header("Cookie", format!("__client={cookie}"));
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        req.form(&[("unsafe_metadata", format!("{{\"n\":{n}}}"))])
            .send()
    };
    for refused in [
        vec![
            ("Origin", "http://localhost:4000"),
            ("Sec-Fetch-Site", "same-site"),
        ],
        vec![
            ("Origin", "http://other.example"),
            ("Sec-Fetch-Site", "cross-site"),
        ],
        vec![("Origin", "null")],
        vec![("Sec-Fetch-Site", "same-site")],
    ] {
        let resp = write(&refused, 1).await.unwrap();
        assert_eq!(resp.status(), 403, "{refused:?}");
    }
    let users = bapi(&server, reqwest::Method::GET, "/users", None).await;
    assert_eq!(users[0]["unsafe_metadata"], json!({}), "nothing changed");
    for (n, allowed) in [
        vec![
            ("Origin", "http://app.example"),
            ("Sec-Fetch-Site", "same-origin"),
        ],
        vec![("Origin", ORIGIN)],
        vec![],
    ]
    .into_iter()
    .enumerate()
    {
        let resp = write(&allowed, n as u32).await.unwrap();
        assert_eq!(resp.status(), 200, "{allowed:?}");
    }
}

#[tokio::test]
async fn native_clients_two_step_sign_up_and_banned_users() {
    let server = Server::start();
    let http = reqwest::Client::new();
    let url = |p: &str| format!("{}/fapi/v1{p}", server.url);

    // A native client: no cookies; the client value travels in Authorization, both ways.
    let resp = http
        .post(url("/client/sign_ups?_is_native=1"))
        .form(&[
            ("email_address", "native@example.com"),
            ("unsafe_metadata", "{\"step\":1}"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let auth = resp.headers()["authorization"].to_str().unwrap().to_owned();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["response"]["status"], "missing_requirements");
    assert_eq!(body["response"]["missing_fields"], json!(["password"]));
    let sign_up = body["response"]["id"].as_str().unwrap().to_owned();

    // Completing the sign-up with PATCH creates the user, with the replaced unsafe metadata.
    let resp = http
        .post(url(&format!("/client/sign_ups/{sign_up}?_method=PATCH")))
        .header("Authorization", &auth)
        .form(&[
            ("password", "native password"),
            ("unsafe_metadata", "{\"step\":2}"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let rotated = resp.headers()["authorization"].to_str().unwrap().to_owned();
    assert_ne!(rotated, auth, "a new session rotates the client secret");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["response"]["status"], "complete");
    let user_id = body["response"]["created_user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Expo stores the whole header value; a bare value (no "Bearer ") works too.
    for value in [
        rotated.clone(),
        rotated.trim_start_matches("Bearer ").to_owned(),
    ] {
        let me: Value = http
            .get(url("/me"))
            .header("Authorization", value)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(me["response"]["unsafe_metadata"], json!({"step": 2}));
    }
    let old = http
        .get(url("/me"))
        .header("Authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(old.status(), 401, "the pre-rotation value is worthless");

    // A banned user cannot sign in.
    bapi(
        &server,
        reqwest::Method::POST,
        &format!("/users/{user_id}/ban"),
        None,
    )
    .await;
    let resp = http
        .post(url("/client/sign_ins"))
        .form(&[
            ("strategy", "password"),
            ("identifier", "native@example.com"),
            ("password", "native password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let err: Value = resp.json().await.unwrap();
    assert_eq!(err["errors"][0]["code"], "user_banned");
    let me = http
        .get(url("/me"))
        .header("Authorization", &rotated)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 401, "banning revoked the session");
}

#[tokio::test]
async fn a_browser_page_never_sees_its_client_credential() {
    let server = Server::start();
    let mut browser = Browser::new(&server);
    let signed_up = browser.sign_up("cookie@example.com").await;
    assert_eq!(signed_up["response"]["has_password"], true, "{signed_up}");
    // The credential is in the HttpOnly cookie only: not in a header a script could read.
    let resp = reqwest::Client::new()
        .post(format!("{}/fapi/v1/client/sign_ins", server.url))
        .header("Origin", ORIGIN)
        .form(&[
            ("identifier", "cookie@example.com"),
            ("password", "long enough pw"),
            ("strategy", "password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().get("set-cookie").is_some());
    assert_eq!(resp.headers()["cache-control"], "no-store");
    assert!(
        resp.headers().get("authorization").is_none(),
        "{:?}",
        resp.headers()
    );
    // Nor when a page script claims to be native: a request with the cookie is a browser's.
    let sid = active_session_id(&signed_up);
    let (status, _, _) = browser
        .send("POST", &format!("/client/sessions/{sid}/end"), &[])
        .await;
    assert_eq!(status, 200);
    let cookie = browser.cookie.clone().unwrap();
    let resp = reqwest::Client::new()
        .post(format!(
            "{}/fapi/v1/client/sign_ins?_is_native=1",
            server.url
        ))
        .header("Origin", ORIGIN)
        .header("Cookie", format!("__client={cookie}"))
        .form(&[
            ("identifier", "cookie@example.com"),
            ("password", "long enough pw"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let rotated = resp.headers().get("set-cookie").unwrap().to_str().unwrap();
    assert!(rotated.starts_with("__client=") && !rotated.contains(&cookie));
    assert!(resp.headers().get("authorization").is_none());
}

#[tokio::test]
async fn same_origin_page_loads_mint_tokens_for_the_page() {
    let server = Server::start();
    let mut browser = Browser::new(&server);
    browser.sign_up("reload@example.com").await;
    let cookie = browser.cookie.clone().unwrap();
    // A reload through a same-origin proxy: `GET /client` carries no Origin, only a Referer.
    let get_client = |referer: Option<&'static str>| {
        let mut req = reqwest::Client::new()
            .get(format!("{}/fapi/v1/client", server.url))
            .header("Cookie", format!("__client={cookie}"));
        if let Some(r) = referer {
            req = req.header("Referer", r);
        }
        async move {
            let body: Value = req.send().await.unwrap().json().await.unwrap();
            let jwt = body["response"]["sessions"][0]["last_active_token"]["jwt"]
                .as_str()
                .unwrap_or_else(|| panic!("no token in {body}"))
                .to_owned();
            claims(&jwt)
        }
    };
    assert_eq!(
        get_client(Some("http://app.example:8080/account?tab=1")).await["azp"],
        "http://app.example:8080"
    );
    // Without either header (a script, a server), there is no party to name.
    assert!(get_client(None).await.get("azp").is_none());
    assert!(get_client(Some("not a url")).await.get("azp").is_none());
    // Nor does an origin no DNS name could have: tokens and their cache stay small.
    let long: &'static str = format!("http://{}.example/", "a".repeat(400)).leak();
    assert!(get_client(Some(long)).await.get("azp").is_none());
}

#[tokio::test]
async fn a_sign_in_strategy_is_password_with_both_factors() {
    let server = Server::start();
    let mut browser = Browser::new(&server);
    for (form, code, param) in [
        (
            vec![("identifier", "a@example.com"), ("strategy", "password")],
            "form_param_missing",
            "password",
        ),
        (
            vec![("password", "long enough pw"), ("strategy", "password")],
            "form_param_missing",
            "identifier",
        ),
        (
            vec![
                ("identifier", "a@example.com"),
                ("strategy", "oauth_google"),
            ],
            "form_param_value_invalid",
            "strategy",
        ),
    ] {
        browser
            .refused(
                ("POST", "/client/sign_ins"),
                &form,
                (422, code),
                Some(param),
            )
            .await;
    }
    // Refused before a client existed: none was made.
    assert!(browser.cookie.is_none());
}

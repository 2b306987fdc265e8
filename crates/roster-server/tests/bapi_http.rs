#![allow(clippy::expect_used, clippy::unwrap_used)]
//! Wire-level Backend API behaviour against a real Roster: error envelopes, limits, atomicity,
//! filters, API versions, restarts. The official SDKs hide some of these; raw HTTP does not.

mod support;

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::Server;

async fn send(req: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let resp = req.send().await.expect("request");
    let status = resp.status();
    let text = resp.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn create(server: &Server, body: Value) -> Value {
    let (status, user) = send(server.http().post(server.v1("/users")).json(&body)).await;
    assert_eq!(status, StatusCode::OK, "{user}");
    user
}

fn error_code(body: &Value) -> (&str, Option<&str>) {
    let e = &body["errors"][0];
    (
        e["code"].as_str().unwrap_or(""),
        e["meta"]["param_name"].as_str(),
    )
}

#[tokio::test]
async fn error_envelope_shape_and_content_type() {
    let server = Server::start();
    let resp = server
        .http()
        .get(server.v1("/users/user_doesnotexist"))
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status(), 404);
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert!(resp.headers().contains_key("x-clerk-trace-id"));
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["errors"][0]["code"], "resource_not_found");
    assert!(body["errors"][0]["message"].is_string());
    assert!(body["errors"][0]["long_message"].is_string());
    assert_eq!(body["clerk_trace_id"].as_str().map(str::len), Some(32));

    // Auth comes before routing: an unknown path without a key is 401.
    let (status, body) = send(reqwest::Client::new().get(server.v1("/nowhere"))).await;
    assert_eq!(status, 401);
    assert_eq!(error_code(&body).0, "authorization_header_format_invalid");
    let (status, body) = send(
        reqwest::Client::new()
            .get(server.v1("/users"))
            .bearer_auth("sk_test_nope"),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(error_code(&body).0, "clerk_key_invalid");
    let (status, body) = send(server.http().get(server.v1("/nowhere"))).await;
    assert_eq!(status, 404);
    assert_eq!(error_code(&body).0, "resource_not_found");

    let (status, _) = send(reqwest::Client::new().get(format!("{}/healthz", server.url))).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn metadata_limit_is_8192_bytes_after_merge_and_rejections_change_nothing() {
    let server = Server::start();
    let user = create(
        &server,
        json!({"email_address": ["lim@example.com"], "private_metadata": {"keep": 1}}),
    )
    .await;
    let id = user["id"].as_str().expect("id");
    let url = server.v1(&format!("/users/{id}/metadata"));

    // {"keep":1,"k":"…"} is 17 bytes of framing around the string.
    let exact = json!({"k": "a".repeat(8192 - 17)});
    let (status, body) = send(
        server
            .http()
            .patch(&url)
            .json(&json!({"private_metadata": exact})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::to_vec(&body["private_metadata"])
            .map(|v| v.len())
            .ok(),
        Some(8192)
    );

    let before = send(server.http().get(server.v1(&format!("/users/{id}"))))
        .await
        .1;
    let one_more = json!({"public_metadata": {"ok": true}, "private_metadata": {"k2": "b"}});
    let (status, body) = send(server.http().patch(&url).json(&one_more)).await;
    assert_eq!(status, 422);
    assert_eq!(
        error_code(&body),
        ("form_param_exceeds_allowed_size", Some("private_metadata"))
    );
    assert_eq!(
        body["errors"][0]["long_message"],
        "The given private_metadata exceeds the maximum allowed size of 8192 bytes (8 KB)."
    );
    // Multi-byte characters count in bytes: 4,100 two-byte characters are over 8 KB.
    let (status, _) = send(
        server
            .http()
            .put(&url)
            .json(&json!({"unsafe_metadata": {"s": "é".repeat(4100)}})),
    )
    .await;
    assert_eq!(status, 422);
    let (status, _) = send(
        server
            .http()
            .post(server.v1("/users"))
            .json(&json!({"public_metadata": {"s": "x".repeat(9000)}})),
    )
    .await;
    assert_eq!(status, 422);
    let (status, body) = send(
        server
            .http()
            .patch(&url)
            .json(&json!({"public_metadata": "not an object"})),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(
        error_code(&body),
        ("form_param_value_invalid", Some("public_metadata"))
    );
    let (status, body) = send(
        server
            .http()
            .put(&url)
            .json(&json!({"unsafe_metadata": [1, 2]})),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(
        error_code(&body),
        ("form_param_value_invalid", Some("unsafe_metadata"))
    );

    let after = send(server.http().get(server.v1(&format!("/users/{id}"))))
        .await
        .1;
    for field in [
        "public_metadata",
        "private_metadata",
        "unsafe_metadata",
        "updated_at",
    ] {
        assert_eq!(
            before[field], after[field],
            "{field} changed by a rejected write"
        );
    }
    assert_eq!(
        send(server.http().get(server.v1("/users/count"))).await.1["total_count"],
        1
    );
}

#[tokio::test]
async fn merge_and_replace_semantics() {
    let server = Server::start();
    let user = create(
        &server,
        json!({"public_metadata": {"a": {"b": 1, "c": 2}, "list": [1, 2]}, "unsafe_metadata": {"u": 1}}),
    )
    .await;
    let id = user["id"].as_str().expect("id");
    let url = server.v1(&format!("/users/{id}/metadata"));
    let (_, merged) = send(server.http().patch(&url).json(&json!({
        "public_metadata": {"a": {"b": null, "d": 4}, "list": [3], "ÜnïcødéKey": {"camelCase": true}}
    })))
    .await;
    assert_eq!(
        merged["public_metadata"],
        json!({"a": {"c": 2, "d": 4}, "list": [3], "ÜnïcødéKey": {"camelCase": true}})
    );
    assert_eq!(merged["unsafe_metadata"], json!({"u": 1}));
    let (_, replaced) = send(
        server
            .http()
            .put(&url)
            .json(&json!({"public_metadata": {"only": 1}, "unsafe_metadata": {}})),
    )
    .await;
    assert_eq!(replaced["public_metadata"], json!({"only": 1}));
    assert_eq!(replaced["unsafe_metadata"], json!({}));
    let (_, nulled) = send(
        server
            .http()
            .put(&url)
            .json(&json!({"public_metadata": null})),
    )
    .await;
    assert_eq!(
        nulled["public_metadata"],
        json!({}),
        "null replaces with an empty object"
    );
    let (status, _) = send(
        server
            .http()
            .patch(server.v1("/users/user_2xhFjEI5X2qWRvtV13BzSj8H6Dk/metadata"))
            .json(&json!({})),
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn concurrent_merges_into_one_user_all_survive() {
    let server = Server::start();
    let user = create(&server, json!({})).await;
    let id = user["id"].as_str().expect("id").to_owned();
    let client = server.http();
    let url = server.v1(&format!("/users/{id}/metadata"));
    let writes = (0..100).map(|i| {
        let req = client
            .patch(&url)
            .json(&json!({"private_metadata": {format!("k{i}"): i}}));
        async move { req.send().await.map(|r| r.status()) }
    });
    for status in futures_join_all(writes).await {
        assert_eq!(status.expect("send"), 200);
    }
    let (_, got) = send(server.http().get(server.v1(&format!("/users/{id}")))).await;
    let keys = got["private_metadata"].as_object().map(|m| m.len());
    assert_eq!(keys, Some(100));
}

async fn futures_join_all<F: std::future::Future + Send + 'static>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.expect("join"));
    }
    out
}

#[tokio::test]
async fn body_errors() {
    let server = Server::start();
    let client = server.http();
    let json_ct = ("content-type", "application/json");
    let (status, body) = send(
        client
            .post(server.v1("/users"))
            .header(json_ct.0, json_ct.1)
            .body("{\"email_address\":"),
    )
    .await;
    assert_eq!(
        (status, error_code(&body).0),
        (StatusCode::BAD_REQUEST, "request_body_invalid")
    );
    let (status, body) = send(
        client
            .post(server.v1("/users"))
            .json(&json!({"email_address": ["x@y.com"], "favourite_colour": "red"})),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(
        error_code(&body),
        ("form_param_unknown", Some("favourite_colour"))
    );
    let (status, body) = send(
        client
            .post(server.v1("/users"))
            .json(&json!({"first_name": 7})),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(
        error_code(&body),
        ("form_param_type_invalid", Some("first_name"))
    );
    let big = format!("{{\"first_name\":\"{}\"}}", "x".repeat(2 * 1024 * 1024));
    let (status, body) = send(
        client
            .post(server.v1("/users"))
            .header(json_ct.0, json_ct.1)
            .body(big),
    )
    .await;
    assert_eq!(
        (status, error_code(&body).0),
        (StatusCode::PAYLOAD_TOO_LARGE, "request_body_too_large")
    );
    let (status, body) = send(
        client
            .post(server.v1("/users"))
            .header("content-type", "text/plain")
            .body("hello"),
    )
    .await;
    assert_eq!(
        (status, error_code(&body).0),
        (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_content_type"
        )
    );
    // Deeply nested JSON is refused by the parser's depth bound, not by a stack overflow.
    let deep = format!(
        "{{\"public_metadata\":{}{}}}",
        "{\"a\":".repeat(50_000),
        "}".repeat(50_000)
    );
    let (status, _) = send(
        client
            .post(server.v1("/users"))
            .header(json_ct.0, json_ct.1)
            .body(deep),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        send(client.get(server.v1("/users/count"))).await.1["total_count"],
        0,
        "nothing stored"
    );

    // Empty body with a JSON content type, as @clerk/backend sends for ban.
    let user = create(&server, json!({})).await;
    let id = user["id"].as_str().expect("id");
    let (status, banned) = send(
        client
            .post(server.v1(&format!("/users/{id}/ban")))
            .header(json_ct.0, json_ct.1),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(banned["banned"], true);
}

#[tokio::test]
async fn identifiers_are_unique_and_validated() {
    let server = Server::start();
    create(&server, json!({"email_address": ["taken@example.com"], "username": "taken_name", "external_id": "ext-1"})).await;
    let cases = [
        (
            json!({"email_address": ["TAKEN@example.com"]}),
            "form_identifier_exists",
            "email_address",
        ),
        (
            json!({"username": "Taken_Name"}),
            "form_identifier_exists",
            "username",
        ),
        (
            json!({"external_id": "ext-1"}),
            "form_identifier_exists",
            "external_id",
        ),
        (
            json!({"email_address": ["not-an-email"]}),
            "form_param_format_invalid",
            "email_address",
        ),
        (
            json!({"phone_number": ["12"]}),
            "form_param_format_invalid",
            "phone_number",
        ),
        (
            json!({"password": "short"}),
            "form_password_length_too_short",
            "password",
        ),
        (
            json!({"created_at": "yesterday"}),
            "form_param_invalid_time",
            "created_at",
        ),
        (
            json!({"email_address": ["a@b.co"], "email_address_identification_status": ["verified", "reserved"]}),
            "form_param_array_length_mismatch",
            "email_address_identification_status",
        ),
    ];
    for (body, code, param) in cases {
        let (status, err) = send(server.http().post(server.v1("/users")).json(&body)).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(error_code(&err), (code, Some(param)), "{body}");
    }
    assert_eq!(
        send(server.http().get(server.v1("/users/count"))).await.1["total_count"],
        1
    );

    // An update may not take another user's username either, and changes nothing when refused.
    let other = create(
        &server,
        json!({"username": "other_name", "first_name": "Before"}),
    )
    .await;
    let id = other["id"].as_str().expect("id");
    let (status, err) = send(
        server
            .http()
            .patch(server.v1(&format!("/users/{id}")))
            .json(&json!({"username": "taken_name", "first_name": "After"})),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(
        error_code(&err),
        ("form_identifier_exists", Some("username"))
    );
    let (_, got) = send(server.http().get(server.v1(&format!("/users/{id}")))).await;
    assert_eq!(got["first_name"], "Before");
}

#[tokio::test]
async fn metadata_on_user_update_depends_on_api_version() {
    let server = Server::start();
    let user = create(&server, json!({"public_metadata": {"a": 1, "b": 2}})).await;
    let url = server.v1(&format!("/users/{}", user["id"].as_str().expect("id")));
    let (status, err) = send(
        server
            .http()
            .patch(&url)
            .header("Clerk-API-Version", "2026-05-12")
            .json(&json!({"public_metadata": {"a": 9}})),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(
        error_code(&err),
        ("form_param_unknown", Some("public_metadata"))
    );
    let (status, legacy) = send(
        server
            .http()
            .patch(&url)
            .header("Clerk-API-Version", "2025-11-10")
            .json(&json!({"public_metadata": {"a": 9}})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(legacy["public_metadata"], json!({"a": 9}));
    for bad in ["soon", "1999-01-01"] {
        let (status, err) = send(server.http().get(&url).header("Clerk-API-Version", bad)).await;
        assert_eq!(
            (status, error_code(&err).0),
            (StatusCode::BAD_REQUEST, "api_version_invalid")
        );
    }
}

#[tokio::test]
async fn list_filters_paging_and_count() {
    let server = Server::start();
    let mut ids = Vec::new();
    for i in 0..12 {
        let user = create(
            &server,
            json!({
                "email_address": [format!("user{i:02}@example.com")],
                "username": format!("person_{i:02}"),
                "first_name": if i % 2 == 0 { "Even" } else { "Odd" },
                "last_name": format!("Number{i}"),
                "external_id": format!("ext-{i}"),
                "created_at": format!("2024-01-{:02}T00:00:00Z", i + 1),
            }),
        )
        .await;
        ids.push(user["id"].as_str().expect("id").to_owned());
    }
    let list = |q: &str| {
        let q = q.to_owned();
        let url = server.v1(&format!("/users?{q}"));
        let client = server.http();
        async move {
            let (status, body) = send(client.get(url)).await;
            assert_eq!(status, 200, "{q}: {body}");
            body.as_array().cloned().unwrap_or_default()
        }
    };
    assert_eq!(list("").await.len(), 10, "default limit");
    let newest_first = list("limit=500").await;
    assert_eq!(newest_first[0]["id"], ids[11].as_str());
    let oldest_first = list("order_by=%2Bcreated_at&limit=3&offset=2").await;
    assert_eq!(
        oldest_first
            .iter()
            .map(|u| u["id"].clone())
            .collect::<Vec<_>>(),
        vec![json!(ids[2]), json!(ids[3]), json!(ids[4])]
    );
    assert_eq!(
        list("email_address=user03@example.com&email_address=USER04@example.com")
            .await
            .len(),
        2
    );
    assert_eq!(list("username=person_05").await[0]["id"], ids[5].as_str());
    assert_eq!(list("external_id=ext-7").await[0]["id"], ids[7].as_str());
    assert_eq!(
        list(&format!("user_id={}&user_id={}", ids[0], ids[1]))
            .await
            .len(),
        2
    );
    assert_eq!(
        list(&format!("user_id=-{}&limit=500", ids[0])).await.len(),
        11
    );
    assert_eq!(
        list("query=ERSON_1&limit=500").await.len(),
        2,
        "person_10, person_11"
    );
    assert_eq!(list("name_query=odd&limit=500").await.len(), 6);
    assert_eq!(list("email_address_query=R0&limit=500").await.len(), 10);
    assert_eq!(list("username_query=_1").await.len(), 2);
    assert_eq!(list("query=100%25").await.len(), 0, "wildcards are literal");
    assert_eq!(
        list("order_by=username&limit=1").await[0]["username"],
        "person_00"
    );
    assert_eq!(
        list("order_by=-username&limit=1").await[0]["username"],
        "person_11"
    );
    let cutoff = 1_704_067_200_000i64 + 5 * 86_400_000; // 2024-01-06
    assert_eq!(
        list(&format!("created_at_before={cutoff}&limit=500"))
            .await
            .len(),
        5
    );
    assert_eq!(list("web3_wallet=0xabc").await.len(), 0);
    let (_, count) = send(
        server
            .http()
            .get(server.v1("/users/count?name_query=even&limit=1")),
    )
    .await;
    assert_eq!(count, json!({"object": "total_count", "total_count": 6}));
    for bad in [
        "limit=0",
        "limit=501",
        "offset=-1",
        "order_by=password",
        "banned=maybe",
        "created_at_after=soon",
    ] {
        let (status, _) = send(server.http().get(server.v1(&format!("/users?{bad}")))).await;
        assert_eq!(status, 422, "{bad}");
    }
    // Of a repeated single-valued parameter the first counts.
    assert_eq!(list("limit=2&limit=4").await.len(), 2);
    assert_eq!(
        list("name_query=odd&name_query=even&limit=500").await.len(),
        6
    );
    assert_eq!(
        list("query=Even Number4&limit=500").await[0]["id"],
        ids[4].as_str(),
        "a full name"
    );
    // A broken percent escape is a malformed query, not a literal `%` matching nobody.
    for bad in [
        "/users?email_address=%zz",
        "/users/count?query=100%",
        "/sessions?user_id=%u",
    ] {
        let (status, body) = send(server.http().get(server.v1(bad))).await;
        assert_eq!(
            (status, error_code(&body)),
            (
                StatusCode::BAD_REQUEST,
                ("malformed_request_parameters", None)
            ),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn passwords_lock_and_hostile_ids() {
    let server = Server::start();
    let user = create(
        &server,
        json!({"email_address": ["pw@example.com"], "password": "correct horse"}),
    )
    .await;
    assert_eq!(user["password_enabled"], true);
    let id = user["id"].as_str().expect("id");
    let verify = server.v1(&format!("/users/{id}/verify_password"));
    let (status, ok) = send(
        server
            .http()
            .post(&verify)
            .json(&json!({"password": "correct horse"})),
    )
    .await;
    assert_eq!((status, ok), (StatusCode::OK, json!({"verified": true})));
    let (status, err) = send(
        server
            .http()
            .post(&verify)
            .json(&json!({"password": "wrong horse"})),
    )
    .await;
    assert_eq!(
        (status, error_code(&err).0),
        (StatusCode::UNPROCESSABLE_ENTITY, "form_password_incorrect")
    );
    let (_, locked) = send(server.http().post(server.v1(&format!("/users/{id}/lock")))).await;
    assert_eq!(locked["locked"], true);
    assert!(locked["lockout_expires_in_seconds"].as_i64().unwrap_or(0) > 0);
    let (_, unlocked) = send(
        server
            .http()
            .post(server.v1(&format!("/users/{id}/unlock"))),
    )
    .await;
    assert_eq!(unlocked["locked"], false);
    assert!(
        !unlocked.to_string().contains("argon2"),
        "no digest in responses"
    );

    for hostile in [
        "user_1'%20OR%201=1",
        "..%2F..%2Fetc%2Fpasswd",
        "user_%00",
        &"user_a".repeat(100),
    ] {
        let (status, err) = send(server.http().get(server.v1(&format!("/users/{hostile}")))).await;
        assert_eq!(status, 404, "{hostile}");
        assert_eq!(error_code(&err).0, "resource_not_found");
    }
    let (_, deleted) = send(server.http().delete(server.v1(&format!("/users/{id}")))).await;
    assert_eq!(
        deleted,
        json!({"object": "user", "id": id, "deleted": true})
    );
}

#[tokio::test]
async fn restart_reuses_instance_and_data_and_minted_keys_work() {
    let dir = tempfile::tempdir().expect("dir");
    let first = Server::start_in(dir.path(), &[]);
    let instance_line = |banner: &str| {
        banner
            .lines()
            .find(|l| l.contains("instance:"))
            .map(str::to_owned)
    };
    let printed_key = first
        .banner
        .lines()
        .find_map(|l| l.split("secret key:").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("a key is printed on first start")
        .to_owned();
    assert!(printed_key.starts_with("sk_test_"));
    let user = create(
        &first,
        json!({"email_address": ["persist@example.com"], "private_metadata": {"n": 1}}),
    )
    .await;
    let first_instance = instance_line(&first.banner);
    let database_url = first.database_url.clone();
    first.stop();

    let mut keys_create = std::process::Command::new(env!("CARGO_BIN_EXE_roster"));
    keys_create
        .args(["keys", "create", "--data-dir"])
        .arg(dir.path());
    if let Some(url) = &database_url {
        keys_create.args(["--database-url", url]);
    }
    let output = keys_create.output().expect("keys create");
    assert!(output.status.success());
    let minted = String::from_utf8_lossy(&output.stdout).trim().to_owned();

    let second = Server::start_in(dir.path(), &[]);
    assert_eq!(instance_line(&second.banner), first_instance);
    assert!(
        !second.banner.contains(&printed_key),
        "the key is printed once only"
    );
    for key in [&printed_key, &minted] {
        let (status, got) = send(
            reqwest::Client::new()
                .get(second.v1(&format!("/users/{}", user["id"].as_str().expect("id"))))
                .bearer_auth(key),
        )
        .await;
        assert_eq!(status, 200, "{key}");
        assert_eq!(got["private_metadata"], json!({"n": 1}));
    }
    let contents = support::database_contents(&second);
    for key in [printed_key.as_str(), minted.as_str(), support::SECRET_KEY] {
        assert!(!contents.contains(key), "secret keys are stored hashed");
    }
}

/// Safe concurrent updates (beyond Clerk): a user's `ETag` names its revision, and a write with
/// `If-Match` applies only while the user is still at it.
#[tokio::test]
async fn if_match_refuses_writes_over_a_revision_the_writer_did_not_read() {
    let server = Server::start();
    let user = create(
        &server,
        json!({"email_address": ["etag@example.com"], "public_metadata": {"seats": 1}}),
    )
    .await;
    let url = server.v1(&format!("/users/{}", user["id"].as_str().unwrap()));
    let metadata_url = format!("{url}/metadata");
    let read = || async {
        let resp = server.http().get(&url).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let etag = resp.headers()["etag"].to_str().unwrap().to_owned();
        (etag, resp.json::<Value>().await.unwrap())
    };
    let (etag, before) = read().await;
    assert!(etag.starts_with('"') && etag.len() == 18, "{etag}");
    assert_eq!(read().await.0, etag, "the same state, the same tag");

    // A cache that holds this revision gets a bodiless 304.
    let resp = server
        .http()
        .get(&url)
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 304);
    assert_eq!(resp.headers()["etag"].to_str().unwrap(), etag);
    assert!(resp.bytes().await.unwrap().is_empty());

    // A write over the revision read applies, and answers with the next revision.
    let resp = server
        .http()
        .patch(&metadata_url)
        .header("If-Match", &etag)
        .json(&json!({"public_metadata": {"seats": 2}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let next = resp.headers()["etag"].to_str().unwrap().to_owned();
    assert_ne!(next, etag);
    assert_eq!(read().await.0, next);

    // Writes over the old revision, or a weak or foreign tag, are refused and change nothing.
    let weak = format!("W/{next}");
    let seats = json!({"public_metadata": {"seats": 99}});
    let stale = [
        ("PATCH", metadata_url.clone(), etag.as_str(), seats.clone()),
        ("PUT", metadata_url.clone(), etag.as_str(), seats.clone()),
        (
            "PATCH",
            url.clone(),
            etag.as_str(),
            json!({"first_name": "Overwritten"}),
        ),
        ("POST", format!("{url}/lock"), etag.as_str(), json!({})),
        ("PATCH", metadata_url.clone(), weak.as_str(), seats.clone()),
        (
            "PATCH",
            metadata_url.clone(),
            "\"another-server\"",
            seats.clone(),
        ),
    ];
    for (method, target, tag, body) in stale {
        let (status, err) = send(
            server
                .http()
                .request(method.parse().unwrap(), &target)
                .header("If-Match", tag)
                .json(&body),
        )
        .await;
        assert_eq!(
            (status, error_code(&err)),
            (
                StatusCode::PRECONDITION_FAILED,
                ("precondition_failed", None)
            ),
            "{method} {target} If-Match: {tag}"
        );
        let (now, after) = read().await;
        assert_eq!(
            (now.as_str(), &after["public_metadata"]),
            (next.as_str(), &json!({"seats": 2}))
        );
        assert_eq!(
            (&after["locked"], &after["first_name"]),
            (&json!(false), &Value::Null)
        );
    }
    assert_eq!(before["first_name"], Value::Null);

    // Of writers racing from one revision, exactly one wins; the others learn they lost.
    let racers = (0..6).map(|i| {
        let req = server
            .http()
            .patch(&metadata_url)
            .header("If-Match", next.clone())
            .json(&json!({"public_metadata": {format!("racer{i}"): true}}));
        async move { req.send().await.unwrap().status() }
    });
    let statuses = futures_join_all(racers).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{statuses:?}"
    );
    assert!(statuses
        .iter()
        .all(|s| *s == StatusCode::OK || *s == StatusCode::PRECONDITION_FAILED));
    let (_, raced) = read().await;
    let keys = raced["public_metadata"].as_object().unwrap().len();
    assert_eq!(keys, 2, "seats and one racer: {raced}");

    // While the user has a lock the body changes with the clock: it is always sent.
    let (status, _) = send(server.http().post(format!("{url}/lock")).json(&json!({}))).await;
    assert_eq!(status, 200);
    let (locked_tag, _) = read().await;
    let resp = server
        .http()
        .get(&url)
        .header("If-None-Match", &locked_tag)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap()["locked"], true);

    // `*` matches any revision; no If-Match writes as always.
    for tag in [Some("*"), None] {
        let mut req = server.http().put(&metadata_url);
        if let Some(tag) = tag {
            req = req.header("If-Match", tag);
        }
        let (status, _) = send(req.json(&json!({"public_metadata": {"seats": 3}}))).await;
        assert_eq!(status, 200);
    }
}

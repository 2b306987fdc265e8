#![allow(clippy::expect_used, clippy::unwrap_used)]
//! Sessions and session tokens against a real Roster: tokens verify against the JWKS (with
//! jsonwebtoken and with clerk-rs's own validator), carry metadata through custom claims and
//! templates, stop with revocation, and survive key rotation.

mod support;

use std::sync::Arc;

use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{json, Value};
use support::Server;

async fn call(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = server.http().request(method, server.v1(path));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn user_and_session(server: &Server) -> (String, String) {
    let (_, user) = call(
        server,
        reqwest::Method::POST,
        "/users",
        Some(json!({"first_name": "Ada", "email_address": [format!("{}@example.com", rand_tag())],
                    "public_metadata": {"role": "admin"}, "private_metadata": {"stripe": "cus_PRIVATE_VALUE"}})),
    )
    .await;
    let user_id = user["id"].as_str().unwrap().to_owned();
    let (status, session) = call(
        server,
        reqwest::Method::POST,
        "/sessions",
        Some(json!({"user_id": user_id})),
    )
    .await;
    assert_eq!(status, 200, "{session}");
    (user_id, session["id"].as_str().unwrap().to_owned())
}

fn rand_tag() -> String {
    roster_domain::ids::new_id("t", 0).to_lowercase()
}

async fn mint(server: &Server, path: &str) -> (u16, Value) {
    call(server, reqwest::Method::POST, path, None).await
}

fn raw_header(jwt: &str) -> Value {
    let part = jwt.split('.').next().unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

fn header_kid(jwt: &str) -> String {
    jsonwebtoken::decode_header(jwt).unwrap().kid.unwrap()
}

/// Verifies with the JWKS key named by the token's kid; returns the claims.
async fn verify(server: &Server, jwt: &str) -> Value {
    let (_, jwks) = call(server, reqwest::Method::GET, "/jwks", None).await;
    let kid = header_kid(jwt);
    let key = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .expect("kid in JWKS");
    assert_eq!(
        (key["kty"].as_str(), key["alg"].as_str(), key["e"].as_str()),
        (Some("RSA"), Some("RS256"), Some("AQAB"))
    );
    let n = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(key["n"].as_str().unwrap())
        .unwrap();
    assert_eq!(n.len(), 256, "RSA-2048");
    let decoding =
        DecodingKey::from_rsa_components(key["n"].as_str().unwrap(), key["e"].as_str().unwrap())
            .unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.validate_aud = false;
    jsonwebtoken::decode::<Value>(jwt, &decoding, &validation)
        .expect("signature and times verify")
        .claims
}

#[tokio::test]
async fn session_tokens_verify_and_carry_current_metadata() {
    let server = Server::start();
    let (user_id, session_id) = user_and_session(&server).await;
    let (status, claims_cfg) = call(
        &server,
        reqwest::Method::PUT,
        "/instance/session_token_claims",
        Some(json!({"claims": {"role": "{{user.public_metadata.role}}", "meta": "{{user.public_metadata}}", "plan": "{{user.public_metadata.plan || 'free'}}"}})),
    )
    .await;
    assert_eq!(status, 200, "{claims_cfg}");
    assert!(claims_cfg["sample_token_bytes"].as_u64().unwrap() > 300);

    let (status, token) = mint(&server, &format!("/sessions/{session_id}/tokens")).await;
    assert_eq!(status, 200, "{token}");
    assert_eq!(token["object"], "token");
    let jwt = token["jwt"].as_str().unwrap();
    let header = jsonwebtoken::decode_header(jwt).unwrap();
    assert_eq!(header.typ.as_deref(), Some("JWT"));
    assert_eq!(
        raw_header(jwt)["cat"],
        "cl_B7d4PD111AAA",
        "session category"
    );
    let claims = verify(&server, jwt).await;
    assert_eq!(
        (claims["sub"].as_str(), claims["sid"].as_str()),
        (Some(user_id.as_str()), Some(session_id.as_str()))
    );
    assert_eq!(claims["role"], "admin");
    assert_eq!(claims["meta"], json!({"role": "admin"}));
    assert_eq!(claims["plan"], "free");
    assert_eq!(claims["v"], 2);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        60
    );
    assert!(
        claims.get("azp").is_none(),
        "Backend API tokens have no origin"
    );
    assert!(
        !jwt.contains("cus_") && !claims.to_string().contains("PRIVATE"),
        "no private metadata"
    );

    // The next token reflects a metadata change at once.
    call(
        &server,
        reqwest::Method::PATCH,
        &format!("/users/{user_id}/metadata"),
        Some(json!({"public_metadata": {"role": "owner", "plan": "pro"}})),
    )
    .await;
    let (_, token) = call(
        &server,
        reqwest::Method::POST,
        &format!("/sessions/{session_id}/tokens"),
        Some(json!({"expires_in_seconds": 300})),
    )
    .await;
    let claims = verify(&server, token["jwt"].as_str().unwrap()).await;
    assert_eq!(
        (claims["role"].as_str(), claims["plan"].as_str()),
        (Some("owner"), Some("pro"))
    );
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        300
    );

    // clerk-rs's own validator accepts the token, fetching the JWKS from Roster.
    let mut config =
        clerk_rs::ClerkConfiguration::new(None, None, Some(server.secret_key.clone()), None);
    config.base_path = server.v1("");
    let clerk = clerk_rs::clerk::Clerk::new(config);
    let provider = Arc::new(clerk_rs::validators::jwks::JwksProviderNoCache::new(
        clerk.clone(),
    ));
    let validated =
        clerk_rs::validators::authorizer::validate_jwt(token["jwt"].as_str().unwrap(), provider)
            .await
            .expect("clerk-rs validates");
    assert_eq!(validated.sub, user_id);
    let listed = clerk_rs::apis::sessions_api::Session::get_session_list(
        &clerk,
        None,
        Some(&user_id),
        None,
        None,
        None,
    )
    .await
    .unwrap();
    assert_eq!(listed.len(), 1);
    let jwks = clerk_rs::apis::jwks_api::Jwks::get_jwks(&clerk)
        .await
        .unwrap();
    assert_eq!(jwks.keys.len(), 1);
}

#[tokio::test]
async fn revoked_banned_and_missing_sessions_mint_nothing() {
    let server = Server::start();
    let (user_id, session_id) = user_and_session(&server).await;
    // Clerk removed `verify`; the SDKs that still call it get its 410, and nothing changes.
    let (status, gone) = mint(&server, &format!("/sessions/{session_id}/verify")).await;
    assert_eq!(
        (status, gone["errors"][0]["code"].as_str()),
        (410, Some("operation_deprecated"))
    );
    assert!(gone["errors"][0]["long_message"]
        .as_str()
        .is_some_and(|m| m.contains("verifyToken")));
    let (status, revoked) = mint(&server, &format!("/sessions/{session_id}/revoke")).await;
    assert_eq!((status, revoked["status"].as_str()), (200, Some("revoked")));
    let (status, err) = mint(&server, &format!("/sessions/{session_id}/tokens")).await;
    assert_eq!(
        (status, err["errors"][0]["code"].as_str()),
        (404, Some("session_not_active"))
    );

    let (_, second) = call(
        &server,
        reqwest::Method::POST,
        "/sessions",
        Some(json!({"user_id": user_id})),
    )
    .await;
    let second = second["id"].as_str().unwrap().to_owned();
    call(
        &server,
        reqwest::Method::POST,
        &format!("/users/{user_id}/ban"),
        None,
    )
    .await;
    let (_, got) = call(
        &server,
        reqwest::Method::GET,
        &format!("/sessions/{second}"),
        None,
    )
    .await;
    assert_eq!(got["status"], "revoked", "banning revokes sessions");
    let (status, _) = call(
        &server,
        reqwest::Method::POST,
        "/sessions",
        Some(json!({"user_id": user_id})),
    )
    .await;
    assert_eq!(status, 403, "a banned user gets no new session");

    let (status, err) = mint(&server, "/sessions/sess_2xhFjEI5X2qWRvtV13BzSj8H6Dk/tokens").await;
    assert_eq!(
        (status, err["errors"][0]["code"].as_str()),
        (404, Some("resource_not_found"))
    );
    let (status, err) = call(&server, reqwest::Method::POST, "/sessions", Some(json!({}))).await;
    assert_eq!(
        (status, err["errors"][0]["code"].as_str()),
        (422, Some("form_param_missing"))
    );
    let (_, page) = call(
        &server,
        reqwest::Method::GET,
        &format!("/sessions?user_id={user_id}&paginated=true&status=revoked"),
        None,
    )
    .await;
    assert_eq!(page["total_count"], 2);
}

#[tokio::test]
async fn jwt_templates_render_claims_and_refuse_bad_input() {
    let server = Server::start();
    let (user_id, session_id) = user_and_session(&server).await;
    let body = json!({"name": "hasura", "claims": {"https://hasura.io/jwt/claims": {"x-hasura-user-id": "{{user.id}}", "x-hasura-role": "{{user.public_metadata.role || 'user'}}"}}, "lifetime": 120, "allowed_clock_skew": 10});
    let (status, template) = call(
        &server,
        reqwest::Method::POST,
        "/jwt_templates",
        Some(body.clone()),
    )
    .await;
    assert_eq!(status, 200, "{template}");
    assert_eq!(
        (
            template["object"].as_str(),
            template["signing_algorithm"].as_str()
        ),
        (Some("jwt_template"), Some("RS256"))
    );
    assert!(template["id"].as_str().unwrap().starts_with("jtmpl_"));
    let (status, dup) = call(&server, reqwest::Method::POST, "/jwt_templates", Some(body)).await;
    assert_eq!(
        (status, dup["errors"][0]["code"].as_str()),
        (422, Some("form_already_exists"))
    );
    for bad in [
        json!({"name": "x", "claims": {"exp": 1}}),
        json!({"name": "x", "claims": {"sid": "{{user.unsafe_metadata.sid}}"}}),
        json!({"name": "x", "claims": {"act": {"sub": "user_admin"}}}),
        json!({"name": "x", "claims": {"p": "{{user.private_metadata}}"}}),
        json!({"name": "x"}),
        json!({"name": "x", "claims": {}, "lifetime": 5}),
    ] {
        let (status, _) = call(
            &server,
            reqwest::Method::POST,
            "/jwt_templates",
            Some(bad.clone()),
        )
        .await;
        assert_eq!(status, 422, "{bad}");
    }

    let (status, token) = mint(&server, &format!("/sessions/{session_id}/tokens/hasura")).await;
    assert_eq!(status, 200, "{token}");
    assert_eq!(
        raw_header(token["jwt"].as_str().unwrap())["cat"],
        "cl_B7d4PD222AAA",
        "template category"
    );
    let claims = verify(&server, token["jwt"].as_str().unwrap()).await;
    assert_eq!(
        claims["https://hasura.io/jwt/claims"],
        json!({"x-hasura-user-id": user_id, "x-hasura-role": "admin"})
    );
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        120
    );
    assert_eq!(
        claims["iat"].as_i64().unwrap() - claims["nbf"].as_i64().unwrap(),
        10
    );
    assert!(claims.get("sid").is_none() && claims.get("v").is_none());

    let id = template["id"].as_str().unwrap();
    let (status, updated) = call(
        &server,
        reqwest::Method::PATCH,
        &format!("/jwt_templates/{id}"),
        Some(json!({"name": "hasura", "claims": {"r": "{{user.first_name}}"}})),
    )
    .await;
    // Lifetime and skew not given stay as they were.
    assert_eq!(
        (
            status,
            updated["lifetime"].as_i64(),
            updated["allowed_clock_skew"].as_i64()
        ),
        (200, Some(120), Some(10))
    );
    let (_, listed) = call(
        &server,
        reqwest::Method::GET,
        "/jwt_templates?paginated=true",
        None,
    )
    .await;
    assert_eq!(listed["total_count"], 1);
    let (_, deleted) = call(
        &server,
        reqwest::Method::DELETE,
        &format!("/jwt_templates/{id}"),
        None,
    )
    .await;
    assert_eq!(
        deleted,
        json!({"object": "jwt_template", "id": id, "deleted": true})
    );
    let (status, err) = mint(&server, &format!("/sessions/{session_id}/tokens/hasura")).await;
    assert_eq!(
        (status, err["errors"][0]["code"].as_str()),
        (404, Some("resource_not_found"))
    );
}

/// clerk-rs types `lifetime` and `allowed_clock_skew` as `f32`, so it sends `120.0`: a whole
/// number in float form is taken as the integer it is, on create and on update.
#[tokio::test]
async fn clerk_rs_templates_set_lifetime_and_skew() {
    use clerk_rs::apis::jwt_templates_api::JwtTemplate;
    use clerk_rs::models::CreateJwtTemplateRequest;
    let server = Server::start();
    let (_, session_id) = user_and_session(&server).await;
    let mut config =
        clerk_rs::ClerkConfiguration::new(None, None, Some(server.secret_key.clone()), None);
    config.base_path = server.v1("");
    let clerk = clerk_rs::clerk::Clerk::new(config);
    let request = |lifetime: f32| CreateJwtTemplateRequest {
        name: Some("rs".into()),
        claims: Some(json!({"role": "{{user.public_metadata.role}}"})),
        lifetime: Some(lifetime),
        allowed_clock_skew: Some(10.0),
        ..CreateJwtTemplateRequest::new()
    };
    let created = JwtTemplate::create_jwt_template(&clerk, Some(request(120.0)))
        .await
        .expect("clerk-rs creates a template with a lifetime");
    assert_eq!((created.lifetime, created.allowed_clock_skew), (120, 10));
    let updated = JwtTemplate::update_jwt_template(&clerk, &created.id, Some(request(600.0)))
        .await
        .expect("clerk-rs updates the lifetime");
    assert_eq!(updated.lifetime, 600);
    let (status, token) = mint(&server, &format!("/sessions/{session_id}/tokens/rs")).await;
    assert_eq!(status, 200, "{token}");
    let claims = verify(&server, token["jwt"].as_str().unwrap()).await;
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        600
    );
    assert_eq!(claims["role"], "admin");
    // A fraction is still refused, and changes nothing.
    let (status, err) = call(
        &server,
        reqwest::Method::PATCH,
        &format!("/jwt_templates/{}", created.id),
        Some(json!({"name": "rs", "claims": {}, "lifetime": 60.5})),
    )
    .await;
    assert_eq!(
        (status, err["errors"][0]["code"].as_str()),
        (422, Some("form_param_type_invalid"))
    );
    let (_, kept) = call(
        &server,
        reqwest::Method::GET,
        &format!("/jwt_templates/{}", created.id),
        None,
    )
    .await;
    assert_eq!(kept["lifetime"], 600);
}

#[tokio::test]
async fn rotation_publishes_both_keys_and_signs_with_the_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(dir.path(), &[]);
    let (_, session_id) = user_and_session(&server).await;
    let (_, before) = mint(&server, &format!("/sessions/{session_id}/tokens")).await;
    let old_jwt = before["jwt"].as_str().unwrap().to_owned();
    let database_url = server.database_url.clone();
    server.stop();

    let mut rotate = std::process::Command::new(env!("CARGO_BIN_EXE_roster"));
    rotate
        .args(["keys", "rotate", "--data-dir"])
        .arg(dir.path());
    if let Some(url) = &database_url {
        rotate.args(["--database-url", url]);
    }
    let out = rotate.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let new_kid = String::from_utf8_lossy(&out.stdout).trim().to_owned();

    let server = Server::start_in(dir.path(), &[]);
    let (_, after) = mint(&server, &format!("/sessions/{session_id}/tokens")).await;
    let new_jwt = after["jwt"].as_str().unwrap();
    assert_eq!(header_kid(new_jwt), new_kid);
    assert_ne!(header_kid(&old_jwt), new_kid);
    let (_, jwks) = call(&server, reqwest::Method::GET, "/jwks", None).await;
    assert_eq!(
        jwks["keys"].as_array().unwrap().len(),
        2,
        "the retired key stays while its tokens live"
    );
    verify(&server, &old_jwt).await;
    verify(&server, new_jwt).await;
}

#![allow(clippy::expect_used, clippy::unwrap_used)]
//! The Rust SDK (`roster-sdk`) against a real Roster: typed metadata per tier, merge and
//! replace, typed errors, filters.

mod support;

use roster_sdk::{Client, CreateUser, Error, ListUsers, MetadataUpdate};
use serde::{Deserialize, Serialize};
use support::Server;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
struct Role {
    role: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
struct Billing {
    #[serde(rename = "stripeId")]
    stripe_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
struct Profile {
    birthday: Option<String>,
}

#[tokio::test]
async fn the_seeds_backend_flows_with_typed_metadata() {
    let server = Server::start();
    let roster = Client::new(&server.url, &server.secret_key)
        .unwrap()
        .with_max_retries(0);
    let user = roster
        .users()
        .create(&CreateUser {
            email_address: vec!["ada@example.com".into()],
            password: Some("correct horse".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(user.primary_email(), Some("ada@example.com"));

    // updateStripe (private), updateRole (public), updateBirthday (unsafe), each a merge.
    let users = roster.users();
    users
        .update_metadata(
            &user.id,
            &MetadataUpdate::default()
                .private(Billing {
                    stripe_id: Some("cus_123".into()),
                })
                .unwrap(),
        )
        .await
        .unwrap();
    users
        .update_metadata(
            &user.id,
            &MetadataUpdate::default()
                .public(Role {
                    role: Some("admin".into()),
                })
                .unwrap(),
        )
        .await
        .unwrap();
    users
        .update_metadata(
            &user.id,
            &MetadataUpdate::default()
                .unsafe_(Profile {
                    birthday: Some("1815-12-10".into()),
                })
                .unwrap(),
        )
        .await
        .unwrap();
    let typed = users
        .get_typed::<Role, Billing, Profile>(&user.id)
        .await
        .unwrap();
    assert_eq!(typed.public_metadata.role.as_deref(), Some("admin"));
    assert_eq!(typed.private_metadata.stripe_id.as_deref(), Some("cus_123"));
    assert_eq!(
        typed.unsafe_metadata.birthday.as_deref(),
        Some("1815-12-10")
    );

    let replaced = users
        .replace_metadata(
            &user.id,
            &MetadataUpdate::default()
                .public(serde_json::json!({}))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(replaced.public_metadata, serde_json::json!({}));
    assert!(users
        .verify_password(&user.id, "correct horse")
        .await
        .unwrap());
    assert!(!users
        .verify_password(&user.id, "wrong horse")
        .await
        .unwrap());
    let found = users
        .list(&ListUsers {
            email_address: vec!["ADA@example.com".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(users.count(&ListUsers::default()).await.unwrap(), 1);
    assert!(users.ban(&user.id).await.unwrap().banned);
}

#[tokio::test]
async fn errors_are_typed() {
    let server = Server::start();
    let roster = Client::new(&server.url, &server.secret_key)
        .unwrap()
        .with_max_retries(0);
    let big = serde_json::json!({"k": "x".repeat(9000)});
    let user = roster.users().create(&CreateUser::default()).await.unwrap();
    match roster
        .users()
        .update_metadata(&user.id, &MetadataUpdate::default().private(big).unwrap())
        .await
    {
        Err(Error::Api(f)) => {
            assert_eq!(
                (f.status, f.code.as_str(), f.param_name.as_deref()),
                (
                    422,
                    "form_param_exceeds_allowed_size",
                    Some("private_metadata")
                )
            );
            assert_eq!(f.trace_id.map(|t| t.len()), Some(32));
        }
        other => panic!("{other:?}"),
    }
    let missing = roster.users().get("user_doesnotexist").await.unwrap_err();
    assert_eq!(
        (missing.status(), missing.code()),
        (Some(404), Some("resource_not_found"))
    );
    let wrong = Client::new(&server.url, "sk_test_wrong")
        .unwrap()
        .users()
        .get(&user.id)
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), Some("clerk_key_invalid"));
    assert!(!wrong.is_transient());

    // Nothing listening: a transport error, retried within the bound and then reported.
    let closed = Client::new("http://127.0.0.1:9", &server.secret_key)
        .unwrap()
        .with_max_retries(2);
    let started = std::time::Instant::now();
    let err = closed.users().get(&user.id).await.unwrap_err();
    assert!(
        matches!(err, Error::Transport(_)) && err.is_transient(),
        "{err:?}"
    );
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(300),
        "two backoffs of 100 and 200 ms"
    );
}

#[derive(Debug, Clone, Deserialize)]
struct AppClaims {
    role: Option<String>,
}

#[tokio::test]
async fn sessions_tokens_and_networkless_verification() {
    use roster_sdk::VerifyError;
    let server = Server::start();
    let roster = Client::new(&server.url, &server.secret_key)
        .unwrap()
        .with_max_retries(0);
    let user = roster
        .users()
        .create(&CreateUser {
            first_name: Some("Ada".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    roster
        .users()
        .update_metadata(
            &user.id,
            &MetadataUpdate::default()
                .public(Role {
                    role: Some("admin".into()),
                })
                .unwrap(),
        )
        .await
        .unwrap();
    let claims = roster
        .tokens()
        .set_session_claims(&serde_json::json!({"role": "{{user.public_metadata.role}}"}))
        .await
        .unwrap();
    assert!(claims.sample_token_bytes.is_some());

    let session = roster.sessions().create(&user.id).await.unwrap();
    assert_eq!(
        roster
            .sessions()
            .list_for_user(&user.id, 10, 0)
            .await
            .unwrap()
            .total_count,
        1
    );
    let token = roster
        .sessions()
        .token(&session.id, None, None)
        .await
        .unwrap();

    // The verifier fetches the JWKS once, then verifies locally.
    let verifier = roster.verifier();
    let verified = verifier.verify::<AppClaims>(&token).await.unwrap();
    assert_eq!(
        (verified.sub.as_str(), verified.sid.as_deref()),
        (user.id.as_str(), Some(session.id.as_str()))
    );
    assert_eq!(verified.custom.role.as_deref(), Some("admin"));

    // Keys given up front: no network at all.
    let jwks = roster.tokens().jwks().await.unwrap();
    let offline = roster_sdk::Verifier::from_jwks(&jwks);
    assert!(offline.verify::<AppClaims>(&token).await.is_ok());
    let empty = roster_sdk::Verifier::from_jwks(&roster_proto::JwksJson { keys: vec![] });
    assert!(matches!(
        empty.verify::<AppClaims>(&token).await,
        Err(VerifyError::UnknownKey(_))
    ));

    // Tampering, authorized parties.
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    use base64::Engine;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut payload: serde_json::Value =
        serde_json::from_slice(&engine.decode(&parts[1]).unwrap()).unwrap();
    payload["role"] = serde_json::json!("owner");
    parts[1] = engine.encode(serde_json::to_vec(&payload).unwrap());
    assert!(matches!(
        offline.verify::<AppClaims>(&parts.join(".")).await,
        Err(VerifyError::Signature)
    ));
    let strict =
        roster_sdk::Verifier::from_jwks(&jwks).with_authorized_parties(["http://localhost:3000"]);
    assert!(matches!(
        strict.verify::<AppClaims>(&token).await,
        Err(VerifyError::UnauthorizedParty(None))
    ));
    assert!(matches!(
        offline.verify::<AppClaims>("not.a.jwt").await,
        Err(VerifyError::Malformed(_))
    ));

    // Template tokens, and revocation.
    let template = roster
        .tokens()
        .create_template(
            "app",
            &serde_json::json!({"r": "{{user.public_metadata.role}}"}),
            Some(120),
        )
        .await
        .unwrap();
    let templated = roster
        .sessions()
        .token(&session.id, Some("app"), None)
        .await
        .unwrap();
    let claims = offline
        .verify::<serde_json::Map<String, serde_json::Value>>(&templated)
        .await
        .unwrap();
    assert_eq!(
        (
            claims.sid,
            claims.custom["r"].as_str(),
            claims.exp - claims.iat
        ),
        (None, Some("admin"), 120)
    );
    assert_eq!(roster.tokens().templates().await.unwrap().total_count, 1);
    roster.tokens().delete_template(&template.id).await.unwrap();
    assert_eq!(
        roster.sessions().revoke(&session.id).await.unwrap().status,
        "revoked"
    );
    let refused = roster
        .sessions()
        .token(&session.id, None, None)
        .await
        .unwrap_err();
    assert_eq!(refused.status(), Some(404));
}

#[tokio::test]
async fn axum_extractor_reads_cookie_or_bearer_and_rejects_the_rest() {
    use axum::extract::FromRef;
    use axum::routing::get;
    use roster_sdk::axum::{Auth, OptionalAuth};

    #[derive(Clone)]
    struct AppState {
        verifier: roster_sdk::Verifier,
    }
    impl FromRef<AppState> for roster_sdk::Verifier {
        fn from_ref(s: &AppState) -> Self {
            s.verifier.clone()
        }
    }
    // The seeds' route: the role from the session claims, without calling Roster.
    async fn role(auth: Auth<AppClaims>) -> String {
        format!(
            "{}:{}",
            auth.user_id,
            auth.claims.custom.role.unwrap_or_default()
        )
    }
    async fn maybe(OptionalAuth(auth): OptionalAuth) -> String {
        auth.map(|a| a.user_id)
            .unwrap_or_else(|| "anonymous".into())
    }

    let server = Server::start();
    let roster = Client::new(&server.url, &server.secret_key)
        .unwrap()
        .with_max_retries(0);
    let user = roster.users().create(&CreateUser::default()).await.unwrap();
    roster
        .users()
        .update_metadata(
            &user.id,
            &MetadataUpdate::default()
                .public(Role {
                    role: Some("editor".into()),
                })
                .unwrap(),
        )
        .await
        .unwrap();
    roster
        .tokens()
        .set_session_claims(&serde_json::json!({"role": "{{user.public_metadata.role}}"}))
        .await
        .unwrap();
    let session = roster.sessions().create(&user.id).await.unwrap();
    let token = roster
        .sessions()
        .token(&session.id, None, None)
        .await
        .unwrap();

    let app = axum::Router::new()
        .route("/role", get(role))
        .route("/maybe", get(maybe))
        .with_state(AppState {
            verifier: roster.verifier(),
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let http = reqwest::Client::new();
    let get = |path: &str| http.get(format!("http://{addr}{path}"));

    let bearer = get("/role").bearer_auth(&token).send().await.unwrap();
    assert_eq!(bearer.text().await.unwrap(), format!("{}:editor", user.id));
    let cookie = get("/role")
        .header("Cookie", format!("other=1; __session={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(cookie.status(), 200);
    let none = get("/role").send().await.unwrap();
    assert_eq!(none.status(), 401);
    let body: serde_json::Value = none.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "authentication_invalid");
    let forged = get("/role")
        .bearer_auth(format!("{token}x"))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    assert_eq!(
        get("/maybe").send().await.unwrap().text().await.unwrap(),
        "anonymous"
    );
    assert_eq!(
        get("/maybe")
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        user.id
    );
}

#[tokio::test]
async fn the_example_service_runs_the_seeds_backend_snippets() {
    let server = Server::start();
    let roster = Client::new(&server.url, &server.secret_key)
        .unwrap()
        .with_max_retries(0);
    roster
        .tokens()
        .set_session_claims(&serde_json::json!({"role": "{{user.public_metadata.role}}"}))
        .await
        .unwrap();
    let user = roster.users().create(&CreateUser::default()).await.unwrap();
    let state = roster_example_axum::AppState {
        verifier: roster.verifier(),
        roster: roster.clone(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, roster_example_axum::app(state)).await });
    let http = reqwest::Client::new();
    for (path, body) in [
        (
            "/updateStripe",
            serde_json::json!({"userId": user.id, "stripeId": "cus_123"}),
        ),
        (
            "/updateRole",
            serde_json::json!({"userId": user.id, "role": "admin"}),
        ),
        (
            "/updateBirthday",
            serde_json::json!({"userId": user.id, "birthday": "1815-12-10"}),
        ),
    ] {
        let resp = http
            .post(format!("http://{addr}{path}"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
    }
    let stored = roster.users().get(&user.id).await.unwrap();
    assert_eq!(
        stored.private_metadata,
        serde_json::json!({"stripeId": "cus_123"})
    );
    assert_eq!(stored.public_metadata, serde_json::json!({"role": "admin"}));
    assert_eq!(
        stored.unsafe_metadata,
        serde_json::json!({"birthday": "1815-12-10"})
    );
    let missing = http
        .post(format!("http://{addr}/updateRole"))
        .json(&serde_json::json!({"userId": "user_nobody", "role": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    let session = roster.sessions().create(&user.id).await.unwrap();
    let token = roster
        .sessions()
        .token(&session.id, None, None)
        .await
        .unwrap();
    let role: serde_json::Value = http
        .get(format!("http://{addr}/role"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        role,
        serde_json::json!({"userId": user.id, "role": "admin"})
    );
    assert_eq!(
        http.get(format!("http://{addr}/role"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
}

#[tokio::test]
async fn update_filters_and_templates() {
    use roster_sdk::UpdateUser;
    let server = Server::start();
    let roster = Client::new(&server.url, &server.secret_key)
        .unwrap()
        .with_max_retries(0);
    let users = roster.users();
    let ada = users
        .create(&CreateUser {
            email_address: vec!["ada@example.com".into()],
            username: Some("ada_l".into()),
            first_name: Some("Ada".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    users
        .create(&CreateUser {
            email_address: vec!["bob@example.com".into()],
            first_name: Some("Bob".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let updated = users
        .update(
            &ada.id,
            &UpdateUser {
                last_name: Some(Some("Lovelace".into())),
                username: Some(None),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (
            updated.last_name.as_deref(),
            updated.username.as_deref(),
            updated.first_name.as_deref()
        ),
        (Some("Lovelace"), None, Some("Ada"))
    );
    let by_name = ListUsers {
        name_query: Some("lovel".into()),
        ..Default::default()
    };
    assert_eq!(users.list(&by_name).await.unwrap().len(), 1);
    assert_eq!(
        users
            .count(&ListUsers {
                email_address_query: Some("@example".into()),
                ..Default::default()
            })
            .await
            .unwrap(),
        2
    );
    users.ban(&ada.id).await.unwrap();
    let banned = users
        .list(&ListUsers {
            banned: Some(true),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        banned.iter().map(|u| u.id.as_str()).collect::<Vec<_>>(),
        vec![ada.id.as_str()]
    );
    assert_eq!(
        users
            .count(&ListUsers {
                created_at_after: Some(ada.created_at - 1),
                ..Default::default()
            })
            .await
            .unwrap(),
        2
    );
    users.delete(&ada.id).await.unwrap();
    assert_eq!(users.get(&ada.id).await.unwrap_err().status(), Some(404));

    let tokens = roster.tokens();
    let t = tokens
        .create_template("one", &serde_json::json!({"a": 1}), None)
        .await
        .unwrap();
    assert_eq!(tokens.template(&t.id).await.unwrap().name, "one");
    let changed = tokens
        .update_template(&t.id, "uno", &serde_json::json!({"b": 2}), Some(90))
        .await
        .unwrap();
    assert_eq!(
        (changed.name.as_str(), changed.lifetime, &changed.claims),
        ("uno", 90, &serde_json::json!({"b": 2}))
    );
}

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

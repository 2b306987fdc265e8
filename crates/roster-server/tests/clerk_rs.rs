#![allow(clippy::expect_used, clippy::unwrap_used)]
//! The official community Rust client, clerk-rs 0.4.2, against a real Roster.

mod support;

use clerk_rs::apis::configuration::ClerkConfiguration;
use clerk_rs::apis::users_api::User;
use clerk_rs::clerk::Clerk;
use clerk_rs::models::{CreateUserRequest, UpdateUserMetadataRequest, UpdateUserRequest};
use serde_json::json;
use support::Server;

fn client(server: &Server) -> Clerk {
    let mut config = ClerkConfiguration::new(None, None, Some(server.secret_key.clone()), None);
    config.base_path = format!("{}/v1", server.url);
    Clerk::new(config)
}

fn new_user(email: &str) -> CreateUserRequest {
    let mut req = CreateUserRequest::new();
    req.email_address = Some(vec![email.to_owned()]);
    req.password = Some("correct-horse-battery".into());
    req.public_metadata = Some(json!({"role": "member"}));
    req.private_metadata = Some(json!({"stripe": {"customer_id": "cus_123"}}));
    req.unsafe_metadata = Some(json!({"birthday": "1815-12-10"}));
    req
}

#[tokio::test]
async fn create_get_merge_list_delete() {
    let server = Server::start();
    let clerk = client(&server);

    let created = User::create_user(&clerk, new_user("ada@example.com"))
        .await
        .expect("create");
    let id = created.id.clone().expect("id");
    assert!(id.starts_with("user_"));
    assert_eq!(created.public_metadata, Some(json!({"role": "member"})));
    let emails = created.email_addresses.clone().expect("emails");
    assert_eq!(emails[0].email_address, "ada@example.com");
    assert_eq!(created.primary_email_address_id, emails[0].id);

    let merged = User::update_user_metadata(
        &clerk,
        &id,
        Some(UpdateUserMetadataRequest {
            public_metadata: Some(json!({"role": "admin", "teams": ["core"]})),
            private_metadata: Some(json!({"stripe": {"subscription": "sub_9"}})),
            unsafe_metadata: None,
        }),
    )
    .await
    .expect("merge");
    assert_eq!(
        merged.public_metadata,
        Some(json!({"role": "admin", "teams": ["core"]}))
    );
    assert_eq!(
        merged.private_metadata,
        Some(json!({"stripe": {"customer_id": "cus_123", "subscription": "sub_9"}}))
    );
    assert_eq!(
        merged.unsafe_metadata,
        Some(json!({"birthday": "1815-12-10"}))
    );

    // A merge with no body at all changes nothing.
    let same = User::update_user_metadata(&clerk, &id, None)
        .await
        .expect("empty merge");
    assert_eq!(same.public_metadata, merged.public_metadata);

    let got = User::get_user(&clerk, &id).await.expect("get");
    assert_eq!(got.public_metadata, merged.public_metadata);

    User::create_user(&clerk, new_user("grace@example.com"))
        .await
        .expect("create 2");
    let listed = User::get_user_list(
        &clerk,
        Some(vec!["ada@example.com".into()]),
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
    )
    .await
    .expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id.as_deref(), Some(id.as_str()));
    let all = User::get_user_list(
        &clerk,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        Some(1),
        Some(1),
        Some("-created_at"),
    )
    .await
    .expect("page");
    assert_eq!(all.len(), 1);
    assert_eq!(
        all[0].id.as_deref(),
        Some(id.as_str()),
        "oldest user is second when newest first"
    );
    let count = User::get_users_count(&clerk, None, None, None, None, None, None, None)
        .await
        .expect("count");
    assert_eq!(count.total_count, 2);

    let deleted = User::delete_user(&clerk, &id).await.expect("delete");
    assert!(deleted.deleted);
    let err = User::get_user(&clerk, &id).await.expect_err("gone");
    match err {
        clerk_rs::apis::Error::ResponseError(r) => assert_eq!(r.status.as_u16(), 404),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn legacy_update_user_replaces_metadata_without_a_version_header() {
    let server = Server::start();
    let clerk = client(&server);
    let created = User::create_user(&clerk, new_user("lin@example.com"))
        .await
        .expect("create");
    let id = created.id.expect("id");
    let mut update = UpdateUserRequest::new();
    update.first_name = Some("Lin".into());
    update.public_metadata = Some(json!({"plan": "pro"}));
    let updated = User::update_user(&clerk, &id, update)
        .await
        .expect("update");
    assert_eq!(updated.first_name.as_deref(), Some("Lin"));
    assert_eq!(
        updated.public_metadata,
        Some(json!({"plan": "pro"})),
        "replaced, not merged"
    );
    assert_eq!(
        updated.unsafe_metadata,
        Some(json!({"birthday": "1815-12-10"})),
        "untouched"
    );
}

#[tokio::test]
async fn ban_and_unban() {
    let server = Server::start();
    let clerk = client(&server);
    let id = User::create_user(&clerk, new_user("ban@example.com"))
        .await
        .expect("create")
        .id
        .expect("id");
    assert_eq!(
        User::ban_user(&clerk, &id).await.expect("ban").banned,
        Some(true)
    );
    assert_eq!(
        User::unban_user(&clerk, &id).await.expect("unban").banned,
        Some(false)
    );
}

#[tokio::test]
async fn wrong_key_is_rejected() {
    let server = Server::start();
    let mut config = ClerkConfiguration::new(None, None, Some("sk_test_wrong".into()), None);
    config.base_path = format!("{}/v1", server.url);
    let clerk = Clerk::new(config);
    match User::get_user(&clerk, "user_123").await {
        Err(clerk_rs::apis::Error::ResponseError(r)) => {
            assert_eq!(r.status.as_u16(), 401);
            assert!(r.content.contains("clerk_key_invalid"));
        }
        other => panic!("unexpected {other:?}"),
    }
}

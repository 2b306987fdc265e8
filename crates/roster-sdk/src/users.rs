//! Users and their metadata.

use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use roster_proto::{DeletedObjectJson, EmailAddressJson, TotalCountJson, VerifiedJson};

use crate::{Client, Error};

/// A user, with each metadata tier typed by the caller: `User<Role, Billing, Profile>`. The
/// defaults are `serde_json::Value`, like Clerk's untyped metadata.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(bound(
    deserialize = "Public: DeserializeOwned, Private: DeserializeOwned, Unsafe: DeserializeOwned"
))]
pub struct User<Public = Value, Private = Value, Unsafe = Value> {
    pub id: String,
    pub external_id: Option<String>,
    pub username: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub primary_email_address_id: Option<String>,
    pub email_addresses: Vec<EmailAddressJson>,
    pub public_metadata: Public,
    pub private_metadata: Private,
    pub unsafe_metadata: Unsafe,
    pub password_enabled: bool,
    pub banned: bool,
    pub locked: bool,
    pub last_sign_in_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl<P, R, U> User<P, R, U> {
    /// The primary email address, if the user has one.
    pub fn primary_email(&self) -> Option<&str> {
        let id = self.primary_email_address_id.as_deref()?;
        self.email_addresses
            .iter()
            .find(|e| e.id == id)
            .map(|e| e.email_address.as_str())
    }
}

/// `POST /v1/users`. Unset fields are not sent.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CreateUser {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub email_address: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_metadata: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_metadata: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unsafe_metadata: Option<Value>,
}

/// The tiers to merge (`update_metadata`) or replace (`replace_metadata`); unset tiers are left
/// alone. Build it from your own types with [`MetadataUpdate::public`] and friends.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MetadataUpdate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_metadata: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_metadata: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unsafe_metadata: Option<Value>,
}

fn to_value(v: impl Serialize) -> Result<Value, Error> {
    serde_json::to_value(v).map_err(|e| Error::Decode(e.to_string()))
}

impl MetadataUpdate {
    pub fn public(mut self, value: impl Serialize) -> Result<Self, Error> {
        self.public_metadata = Some(to_value(value)?);
        Ok(self)
    }
    pub fn private(mut self, value: impl Serialize) -> Result<Self, Error> {
        self.private_metadata = Some(to_value(value)?);
        Ok(self)
    }
    pub fn unsafe_(mut self, value: impl Serialize) -> Result<Self, Error> {
        self.unsafe_metadata = Some(to_value(value)?);
        Ok(self)
    }
}

/// Filters and paging for `list` and `count`.
#[derive(Debug, Clone, Default)]
pub struct ListUsers {
    pub email_address: Vec<String>,
    pub username: Vec<String>,
    pub external_id: Vec<String>,
    pub user_id: Vec<String>,
    pub query: Option<String>,
    pub order_by: Option<String>,
    pub limit: Option<u32>,
    pub offset: Option<u64>,
}

impl ListUsers {
    fn pairs(&self, paging: bool) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (key, values) in [
            ("email_address", &self.email_address),
            ("username", &self.username),
            ("external_id", &self.external_id),
            ("user_id", &self.user_id),
        ] {
            out.extend(values.iter().map(|v| (key.to_owned(), v.clone())));
        }
        if let Some(q) = &self.query {
            out.push(("query".into(), q.clone()));
        }
        if paging {
            if let Some(o) = &self.order_by {
                out.push(("order_by".into(), o.clone()));
            }
            if let Some(l) = self.limit {
                out.push(("limit".into(), l.to_string()));
            }
            if let Some(o) = self.offset {
                out.push(("offset".into(), o.to_string()));
            }
        }
        out
    }
}

/// User operations; from [`Client::users`].
pub struct Users<'a> {
    pub(crate) client: &'a Client,
}

/// Percent-encodes a path segment.
pub(crate) fn encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn path(id: &str, suffix: &str) -> String {
    format!("/users/{}{suffix}", encode(id))
}

impl Users<'_> {
    pub async fn create(&self, user: &CreateUser) -> Result<User, Error> {
        self.client
            .send(Method::POST, "/users", &[], Some(&to_value(user)?))
            .await
    }

    pub async fn get(&self, id: &str) -> Result<User, Error> {
        self.get_typed(id).await
    }

    /// The user with metadata decoded into your own types.
    pub async fn get_typed<P: DeserializeOwned, R: DeserializeOwned, U: DeserializeOwned>(
        &self,
        id: &str,
    ) -> Result<User<P, R, U>, Error> {
        self.client
            .send(Method::GET, &path(id, ""), &[], None)
            .await
    }

    pub async fn list(&self, filter: &ListUsers) -> Result<Vec<User>, Error> {
        self.client
            .send(Method::GET, "/users", &filter.pairs(true), None)
            .await
    }

    pub async fn count(&self, filter: &ListUsers) -> Result<u64, Error> {
        let count: TotalCountJson = self
            .client
            .send(Method::GET, "/users/count", &filter.pairs(false), None)
            .await?;
        Ok(count.total_count)
    }

    /// Deep-merges each tier given (`null` removes a key at any depth).
    pub async fn update_metadata(&self, id: &str, update: &MetadataUpdate) -> Result<User, Error> {
        self.client
            .send(
                Method::PATCH,
                &path(id, "/metadata"),
                &[],
                Some(&to_value(update)?),
            )
            .await
    }

    /// Replaces each tier given.
    pub async fn replace_metadata(&self, id: &str, update: &MetadataUpdate) -> Result<User, Error> {
        self.client
            .send(
                Method::PUT,
                &path(id, "/metadata"),
                &[],
                Some(&to_value(update)?),
            )
            .await
    }

    pub async fn delete(&self, id: &str) -> Result<(), Error> {
        let _: DeletedObjectJson = self
            .client
            .send(Method::DELETE, &path(id, ""), &[], None)
            .await?;
        Ok(())
    }

    pub async fn ban(&self, id: &str) -> Result<User, Error> {
        self.client
            .send(Method::POST, &path(id, "/ban"), &[], None)
            .await
    }

    pub async fn unban(&self, id: &str) -> Result<User, Error> {
        self.client
            .send(Method::POST, &path(id, "/unban"), &[], None)
            .await
    }

    pub async fn lock(&self, id: &str) -> Result<User, Error> {
        self.client
            .send(Method::POST, &path(id, "/lock"), &[], None)
            .await
    }

    pub async fn unlock(&self, id: &str) -> Result<User, Error> {
        self.client
            .send(Method::POST, &path(id, "/unlock"), &[], None)
            .await
    }

    /// `true` when the password matches; `false` when it does not.
    pub async fn verify_password(&self, id: &str, password: &str) -> Result<bool, Error> {
        let body = serde_json::json!({ "password": password });
        match self
            .client
            .send::<VerifiedJson>(
                Method::POST,
                &path(id, "/verify_password"),
                &[],
                Some(&body),
            )
            .await
        {
            Ok(v) => Ok(v.verified),
            Err(e) if e.code() == Some("form_password_incorrect") => Ok(false),
            Err(e) => Err(e),
        }
    }
}

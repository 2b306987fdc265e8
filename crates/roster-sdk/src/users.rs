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

/// `PATCH /v1/users/{id}`: fields to change (unset fields are left alone). Metadata is changed
/// with [`Users::update_metadata`] or [`Users::replace_metadata`] instead.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UpdateUser {
    /// New first name; `Some(None)` clears it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<Option<String>>,
    /// New last name; `Some(None)` clears it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<Option<String>>,
    /// New username; `Some(None)` removes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<Option<String>>,
    /// New external id; `Some(None)` clears it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<Option<String>>,
    /// A new password (at least 8 characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// One of the user's verified email address ids.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_email_address_id: Option<String>,
}

/// Filters and paging for `list` and `count`. Different filters AND; the values of one OR.
#[derive(Debug, Clone, Default)]
pub struct ListUsers {
    /// Exact email addresses (case-insensitive).
    pub email_address: Vec<String>,
    /// Exact phone numbers (E.164).
    pub phone_number: Vec<String>,
    /// Exact usernames (case-insensitive).
    pub username: Vec<String>,
    /// External ids; prefix `-` to exclude.
    pub external_id: Vec<String>,
    /// User ids; prefix `-` to exclude.
    pub user_id: Vec<String>,
    /// Substring of ids, identifiers and names.
    pub query: Option<String>,
    /// Substring of an email address.
    pub email_address_query: Option<String>,
    /// Substring of the username.
    pub username_query: Option<String>,
    /// Substring of `first last`.
    pub name_query: Option<String>,
    /// Only banned (or only unbanned) users.
    pub banned: Option<bool>,
    /// Created before this unix time in ms.
    pub created_at_before: Option<i64>,
    /// Created after this unix time in ms.
    pub created_at_after: Option<i64>,
    /// `[+|-]field`, e.g. `-created_at` (the default) or `username`.
    pub order_by: Option<String>,
    /// Page size, 1 to 500 (default 10).
    pub limit: Option<u32>,
    /// Users to skip.
    pub offset: Option<u64>,
}

impl ListUsers {
    fn pairs(&self, paging: bool) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (key, values) in [
            ("email_address", &self.email_address),
            ("phone_number", &self.phone_number),
            ("username", &self.username),
            ("external_id", &self.external_id),
            ("user_id", &self.user_id),
        ] {
            out.extend(values.iter().map(|v| (key.to_owned(), v.clone())));
        }
        for (key, value) in [
            ("query", &self.query),
            ("email_address_query", &self.email_address_query),
            ("username_query", &self.username_query),
            ("name_query", &self.name_query),
        ] {
            if let Some(v) = value {
                out.push((key.to_owned(), v.clone()));
            }
        }
        if let Some(b) = self.banned {
            out.push(("banned".into(), b.to_string()));
        }
        if let Some(t) = self.created_at_before {
            out.push(("created_at_before".into(), t.to_string()));
        }
        if let Some(t) = self.created_at_after {
            out.push(("created_at_after".into(), t.to_string()));
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

    /// Changes the fields given; metadata is untouched.
    pub async fn update(&self, id: &str, update: &UpdateUser) -> Result<User, Error> {
        self.client
            .send(Method::PATCH, &path(id, ""), &[], Some(&to_value(update)?))
            .await
    }

    /// Deletes the user (their sessions are revoked).
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

//! Users and their metadata.

use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use roster_proto::{DeletedObjectJson, EmailAddressJson, TotalCountJson, VerifiedJson};

use crate::{Client, Error};

/// A user as the Backend API returns it, with each metadata tier typed by the caller:
/// `User<Role, Billing, Profile>` from [`Users::get_typed`]. The defaults are
/// `serde_json::Value`, like Clerk's untyped metadata.
///
/// Only the fields most services need are here; the rest of Clerk's user object is ignored.
/// Times are unix milliseconds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(bound(
    deserialize = "Public: DeserializeOwned, Private: DeserializeOwned, Unsafe: DeserializeOwned"
))]
pub struct User<Public = Value, Private = Value, Unsafe = Value> {
    /// The user id, `user_…`.
    pub id: String,
    /// Your own id for the user, if you set one.
    pub external_id: Option<String>,
    /// The username, if set.
    pub username: Option<String>,
    /// The first name, if set.
    pub first_name: Option<String>,
    /// The last name, if set.
    pub last_name: Option<String>,
    /// The id of the primary entry of `email_addresses`; see [`User::primary_email`].
    pub primary_email_address_id: Option<String>,
    /// All of the user's email addresses.
    pub email_addresses: Vec<EmailAddressJson>,
    /// Metadata the frontend can read (and tokens can carry) but only the backend can write.
    pub public_metadata: Public,
    /// Metadata only the backend can read or write; never in a token or a frontend answer.
    pub private_metadata: Private,
    /// Metadata the signed-in user can read and write from the frontend: do not trust it.
    pub unsafe_metadata: Unsafe,
    /// Whether the user has a password (see [`Users::verify_password`]).
    pub password_enabled: bool,
    /// A banned user cannot sign in or get tokens (see [`Users::ban`]).
    pub banned: bool,
    /// A locked user cannot sign in or get tokens until unlocked (see [`Users::lock`]).
    pub locked: bool,
    /// When the user last signed in, if ever.
    pub last_sign_in_at: Option<i64>,
    /// When the user was created.
    pub created_at: i64,
    /// When the user last changed.
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

/// The new user for [`Users::create`] (`POST /v1/users`). Unset fields are not sent; every
/// field is optional.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CreateUser {
    /// Email addresses, stored as verified; the first becomes the primary one. Each must not
    /// belong to another user (`form_identifier_exists`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub email_address: Vec<String>,
    /// A unique username.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// A password of at least 8 characters, stored hashed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// The first name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// The last name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// Your own unique id for the user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// The initial public metadata: a JSON object of at most 8 KB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_metadata: Option<Value>,
    /// The initial private metadata: a JSON object of at most 8 KB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_metadata: Option<Value>,
    /// The initial unsafe metadata: a JSON object of at most 8 KB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unsafe_metadata: Option<Value>,
}

/// The tiers to merge ([`Users::update_metadata`]) or replace ([`Users::replace_metadata`]);
/// unset tiers are left alone. Build it from your own types with [`MetadataUpdate::public`],
/// [`private`](MetadataUpdate::private) and [`unsafe_`](MetadataUpdate::unsafe_), or set the
/// fields to JSON directly.
///
/// Each tier given must be a JSON object or `null` (`form_param_value_invalid` otherwise), and
/// each stored tier is at most 8 KB of compact JSON (`form_param_exceeds_allowed_size`). Both
/// errors name the tier in `param_name`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MetadataUpdate {
    /// The public tier's patch or replacement.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_metadata: Option<Value>,
    /// The private tier's patch or replacement.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_metadata: Option<Value>,
    /// The unsafe tier's patch or replacement.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unsafe_metadata: Option<Value>,
}

fn to_value(v: impl Serialize) -> Result<Value, Error> {
    serde_json::to_value(v).map_err(|e| Error::Decode(e.to_string()))
}

impl MetadataUpdate {
    /// Sets the public tier from any `Serialize` value (it must serialise to an object).
    ///
    /// Fails with [`Error::Decode`] when serde cannot serialise `value`.
    pub fn public(mut self, value: impl Serialize) -> Result<Self, Error> {
        self.public_metadata = Some(to_value(value)?);
        Ok(self)
    }

    /// Sets the private tier from any `Serialize` value (it must serialise to an object).
    ///
    /// Fails with [`Error::Decode`] when serde cannot serialise `value`.
    pub fn private(mut self, value: impl Serialize) -> Result<Self, Error> {
        self.private_metadata = Some(to_value(value)?);
        Ok(self)
    }

    /// Sets the unsafe tier from any `Serialize` value (it must serialise to an object).
    ///
    /// Fails with [`Error::Decode`] when serde cannot serialise `value`.
    pub fn unsafe_(mut self, value: impl Serialize) -> Result<Self, Error> {
        self.unsafe_metadata = Some(to_value(value)?);
        Ok(self)
    }
}

/// A user as read at one revision, with the `ETag` naming it: hand `etag` back to a conditional
/// write ([`Users::update_metadata_if`], [`Users::replace_metadata_if`]), which then applies only
/// if nobody changed the user in between. Roster's own; Clerk has no revisions.
#[derive(Debug, Clone)]
pub struct Tagged<T> {
    /// What was read or written.
    pub value: T,
    /// Its revision, as the `ETag` header named it (`"…"`, quotes included).
    pub etag: String,
}

fn tagged(answer: (User, Option<String>)) -> Result<Tagged<User>, Error> {
    match answer {
        (value, Some(etag)) => Ok(Tagged { value, etag }),
        (_, None) => Err(Error::Decode(
            "the server sent no ETag: revisions need a Roster server (Clerk has none)".into(),
        )),
    }
}

/// The changes for [`Users::update`] (`PATCH /v1/users/{id}`); unset fields are left alone.
/// Metadata is changed with [`Users::update_metadata`] or [`Users::replace_metadata`] instead.
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

/// Filters and paging for [`Users::list`] and [`Users::count`] (`count` ignores the paging
/// fields). Different filters AND; the values of one filter OR. `Default` matches every user.
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

/// User operations (`/v1/users`); from [`Client::users`].
///
/// Methods taking a user id fail with 404 `resource_not_found` when there is no such user.
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
    /// Creates a user (`POST /v1/users`).
    ///
    /// Fails with 422 `form_identifier_exists` when an email address, username or external id
    /// is taken, or another 422 code naming the bad field in `param_name`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), roster_sdk::Error> {
    /// # if std::env::var("ROSTER_API_URL").is_err() { return Ok(()) }
    /// # let unique = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    /// use roster_sdk::{Client, CreateUser};
    ///
    /// let roster = Client::from_env()?;
    /// let email = format!("ada.{unique}@example.com");
    /// let user = roster
    ///     .users()
    ///     .create(&CreateUser {
    ///         email_address: vec![email.clone()],
    ///         password: Some("correct horse battery staple".into()),
    ///         first_name: Some("Ada".into()),
    ///         public_metadata: Some(serde_json::json!({ "role": "admin" })),
    ///         ..Default::default()
    ///     })
    ///     .await?;
    /// assert_eq!(user.primary_email(), Some(email.as_str()));
    /// assert!(user.password_enabled);
    /// assert_eq!(user.public_metadata["role"], "admin");
    ///
    /// // The same address again is refused, naming the parameter.
    /// let again = CreateUser { email_address: vec![email], ..Default::default() };
    /// match roster.users().create(&again).await {
    ///     Err(roster_sdk::Error::Api(failure)) => {
    ///         assert_eq!(failure.code, "form_identifier_exists");
    ///         assert_eq!(failure.param_name.as_deref(), Some("email_address"));
    ///     }
    ///     other => panic!("expected form_identifier_exists, got {other:?}"),
    /// }
    /// # roster.users().delete(&user.id).await?;
    /// # Ok(()) }
    /// ```
    pub async fn create(&self, user: &CreateUser) -> Result<User, Error> {
        self.client
            .send(Method::POST, "/users", &[], Some(&to_value(user)?))
            .await
    }

    /// The user with id `id`, metadata as `serde_json::Value` (`GET /v1/users/{id}`).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), roster_sdk::Error> {
    /// # if std::env::var("ROSTER_API_URL").is_err() { return Ok(()) }
    /// use roster_sdk::{Client, CreateUser};
    ///
    /// let roster = Client::from_env()?;
    /// let created = roster
    ///     .users()
    ///     .create(&CreateUser { first_name: Some("Ada".into()), ..Default::default() })
    ///     .await?;
    /// let user = roster.users().get(&created.id).await?;
    /// assert_eq!(user.first_name.as_deref(), Some("Ada"));
    /// assert_eq!(user.private_metadata, serde_json::json!({}));
    ///
    /// let missing = roster.users().get("user_doesnotexist").await.unwrap_err();
    /// assert_eq!((missing.status(), missing.code()), (Some(404), Some("resource_not_found")));
    /// # roster.users().delete(&user.id).await?;
    /// # Ok(()) }
    /// ```
    pub async fn get(&self, id: &str) -> Result<User, Error> {
        self.get_typed(id).await
    }

    /// The user with each metadata tier decoded into your own type: `P` public, `R` private,
    /// `U` unsafe (use `serde_json::Value` for a tier you do not type).
    ///
    /// A tier nobody wrote is `{}`, so give your types `Option` or `#[serde(default)]` fields.
    /// Stored metadata that does not fit a type fails with [`Error::Decode`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), roster_sdk::Error> {
    /// # if std::env::var("ROSTER_API_URL").is_err() { return Ok(()) }
    /// use roster_sdk::{Client, CreateUser, MetadataUpdate};
    /// use serde::{Deserialize, Serialize};
    ///
    /// // Public: the frontend may read it, only the backend writes it.
    /// #[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
    /// struct Role {
    ///     role: Option<String>,
    /// }
    ///
    /// // Private: the backend alone sees it.
    /// #[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
    /// struct Billing {
    ///     #[serde(rename = "stripeId")]
    ///     stripe_id: Option<String>,
    /// }
    ///
    /// // Unsafe: the signed-in user may change it from the frontend.
    /// #[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
    /// struct Profile {
    ///     birthday: Option<String>,
    /// }
    ///
    /// let roster = Client::from_env()?;
    /// let users = roster.users();
    /// let created = users.create(&CreateUser::default()).await?;
    /// let update = MetadataUpdate::default()
    ///     .public(Role { role: Some("admin".into()) })?
    ///     .private(Billing { stripe_id: Some("cus_123".into()) })?;
    /// users.update_metadata(&created.id, &update).await?;
    ///
    /// let user = users.get_typed::<Role, Billing, Profile>(&created.id).await?;
    /// assert_eq!(user.public_metadata.role.as_deref(), Some("admin"));
    /// assert_eq!(user.private_metadata.stripe_id.as_deref(), Some("cus_123"));
    /// assert_eq!(user.unsafe_metadata, Profile::default()); // never written: `{}`
    /// # users.delete(&user.id).await?;
    /// # Ok(()) }
    /// ```
    pub async fn get_typed<P: DeserializeOwned, R: DeserializeOwned, U: DeserializeOwned>(
        &self,
        id: &str,
    ) -> Result<User<P, R, U>, Error> {
        self.client
            .send(Method::GET, &path(id, ""), &[], None)
            .await
    }

    /// One page of the users matching `filter`, newest first unless
    /// [`order_by`](ListUsers::order_by) says otherwise (`GET /v1/users`).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), roster_sdk::Error> {
    /// # if std::env::var("ROSTER_API_URL").is_err() { return Ok(()) }
    /// # let unique = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    /// use roster_sdk::{Client, CreateUser, ListUsers};
    ///
    /// let roster = Client::from_env()?;
    /// let users = roster.users();
    /// let email = format!("grace.{unique}@example.com");
    /// let created = users
    ///     .create(&CreateUser { email_address: vec![email.clone()], ..Default::default() })
    ///     .await?;
    ///
    /// // Exact email filters ignore case.
    /// let by_email = ListUsers { email_address: vec![email.to_uppercase()], ..Default::default() };
    /// let found = users.list(&by_email).await?;
    /// assert_eq!(found.len(), 1);
    /// assert_eq!(found[0].id, created.id);
    /// assert_eq!(users.count(&by_email).await?, 1);
    ///
    /// // Several values of one filter OR; `-` excludes an id.
    /// let others = ListUsers {
    ///     user_id: vec![format!("-{}", created.id)],
    ///     email_address: vec![email],
    ///     ..Default::default()
    /// };
    /// assert!(users.list(&others).await?.is_empty());
    /// # users.delete(&created.id).await?;
    /// # Ok(()) }
    /// ```
    pub async fn list(&self, filter: &ListUsers) -> Result<Vec<User>, Error> {
        self.client
            .send(Method::GET, "/users", &filter.pairs(true), None)
            .await
    }

    /// How many users match `filter`, ignoring its paging fields (`GET /v1/users/count`). See
    /// [`Users::list`] for an example.
    pub async fn count(&self, filter: &ListUsers) -> Result<u64, Error> {
        let count: TotalCountJson = self
            .client
            .send(Method::GET, "/users/count", &filter.pairs(false), None)
            .await?;
        Ok(count.total_count)
    }

    /// Deep-merges each tier given into the stored one (`PATCH /v1/users/{id}/metadata`, JSON
    /// Merge Patch per tier): objects merge key by key at any depth, `null` removes a key at any
    /// depth, and any other value (string, number, array) replaces. Tiers not given are
    /// untouched. Roster applies the merge atomically, so concurrent updates of different keys
    /// all survive.
    ///
    /// Fails with 422 `form_param_exceeds_allowed_size` when a merged tier would exceed 8 KB,
    /// and `form_param_value_invalid` when a tier is neither an object nor `null` (a top-level
    /// `null` changes nothing); `param_name` names the tier and nothing is stored.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), roster_sdk::Error> {
    /// # if std::env::var("ROSTER_API_URL").is_err() { return Ok(()) }
    /// use roster_sdk::{Client, CreateUser, MetadataUpdate};
    /// use serde_json::json;
    ///
    /// let roster = Client::from_env()?;
    /// let users = roster.users();
    /// let user = users
    ///     .create(&CreateUser {
    ///         public_metadata: Some(json!({ "plan": { "name": "pro", "seats": 5 }, "beta": true })),
    ///         private_metadata: Some(json!({ "stripeId": "cus_123" })),
    ///         ..Default::default()
    ///     })
    ///     .await?;
    ///
    /// let patch = MetadataUpdate {
    ///     public_metadata: Some(json!({ "plan": { "seats": 10 }, "beta": null })),
    ///     ..Default::default()
    /// };
    /// let user = users.update_metadata(&user.id, &patch).await?;
    /// assert_eq!(user.public_metadata, json!({ "plan": { "name": "pro", "seats": 10 } }));
    /// assert_eq!(user.private_metadata, json!({ "stripeId": "cus_123" }));
    /// # users.delete(&user.id).await?;
    /// # Ok(()) }
    /// ```
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

    /// [`Users::get`] with the user's revision, for a conditional write to follow.
    pub async fn get_tagged(&self, id: &str) -> Result<Tagged<User>, Error> {
        self.client
            .send_conditional(Method::GET, &path(id, ""), &[], None, None)
            .await
            .and_then(tagged)
    }

    /// [`Users::update_metadata`], applied only while the user is still at the revision `etag`
    /// names (`If-Match`); otherwise nothing changes and the error
    /// [is_precondition_failed](Error::is_precondition_failed). Answers the new revision.
    pub async fn update_metadata_if(
        &self,
        id: &str,
        etag: &str,
        update: &MetadataUpdate,
    ) -> Result<Tagged<User>, Error> {
        self.metadata_if(Method::PATCH, id, etag, update).await
    }

    /// [`Users::replace_metadata`], applied only while the user is still at the revision `etag`
    /// names (`If-Match`); see [`Users::update_metadata_if`].
    pub async fn replace_metadata_if(
        &self,
        id: &str,
        etag: &str,
        update: &MetadataUpdate,
    ) -> Result<Tagged<User>, Error> {
        self.metadata_if(Method::PUT, id, etag, update).await
    }

    async fn metadata_if(
        &self,
        method: Method,
        id: &str,
        etag: &str,
        update: &MetadataUpdate,
    ) -> Result<Tagged<User>, Error> {
        let body = to_value(update)?;
        self.client
            .send_conditional(method, &path(id, "/metadata"), &[], Some(&body), Some(etag))
            .await
            .and_then(tagged)
    }

    /// Read-modify-write without lost updates: reads the user, asks `change` for the tiers to
    /// store (each replaces its tier, as in [`Users::replace_metadata`]), and writes them only
    /// over the revision read. If someone else wrote in between, it reads again and asks again,
    /// up to `attempts` times in all, then gives up with the precondition error. `change` may
    /// therefore run more than once, and should depend only on the user it is given.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), roster_sdk::Error> {
    /// # if std::env::var("ROSTER_API_URL").is_err() { return Ok(()) }
    /// use roster_sdk::{Client, CreateUser, MetadataUpdate, User};
    /// use serde_json::json;
    ///
    /// let roster = Client::from_env()?;
    /// let users = roster.users();
    /// let user = users
    ///     .create(&CreateUser {
    ///         public_metadata: Some(json!({ "seats": 0 })),
    ///         ..Default::default()
    ///     })
    ///     .await?;
    ///
    /// // Four writers add a seat each, at the same time: none of the increments is lost.
    /// let add_seat = |u: &User| -> Result<MetadataUpdate, roster_sdk::Error> {
    ///     let seats = u.public_metadata["seats"].as_i64().unwrap_or(0);
    ///     Ok(MetadataUpdate { public_metadata: Some(json!({ "seats": seats + 1 })), ..Default::default() })
    /// };
    /// let (a, b, c, d) = tokio::join!(
    ///     users.modify_metadata(&user.id, 10, add_seat),
    ///     users.modify_metadata(&user.id, 10, add_seat),
    ///     users.modify_metadata(&user.id, 10, add_seat),
    ///     users.modify_metadata(&user.id, 10, add_seat),
    /// );
    /// for result in [a, b, c, d] {
    ///     result?;
    /// }
    /// assert_eq!(users.get(&user.id).await?.public_metadata, json!({ "seats": 4 }));
    ///
    /// // A write over a revision that is no longer current changes nothing.
    /// let stale = users.get_tagged(&user.id).await?;
    /// users.update_metadata(&user.id, &MetadataUpdate { public_metadata: Some(json!({ "plan": "pro" })), ..Default::default() }).await?;
    /// let refused = users
    ///     .replace_metadata_if(&user.id, &stale.etag, &MetadataUpdate { public_metadata: Some(json!({})), ..Default::default() })
    ///     .await
    ///     .unwrap_err();
    /// assert!(refused.is_precondition_failed());
    /// assert_eq!(users.get(&user.id).await?.public_metadata, json!({ "seats": 4, "plan": "pro" }));
    /// # users.delete(&user.id).await?;
    /// # Ok(()) }
    /// ```
    pub async fn modify_metadata(
        &self,
        id: &str,
        attempts: u32,
        mut change: impl FnMut(&User) -> Result<MetadataUpdate, Error>,
    ) -> Result<User, Error> {
        let mut tries = 0;
        loop {
            tries += 1;
            let current = self.get_tagged(id).await?;
            let update = change(&current.value)?;
            match self.replace_metadata_if(id, &current.etag, &update).await {
                Err(e) if e.is_precondition_failed() && tries < attempts => continue,
                outcome => return outcome.map(|t| t.value),
            }
        }
    }

    /// Replaces each tier given with the given object (`PUT /v1/users/{id}/metadata`); `null`
    /// stores `{}`. Tiers not given are untouched. Same limits and errors as
    /// [`Users::update_metadata`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), roster_sdk::Error> {
    /// # if std::env::var("ROSTER_API_URL").is_err() { return Ok(()) }
    /// use roster_sdk::{Client, CreateUser, MetadataUpdate};
    /// use serde_json::json;
    ///
    /// let roster = Client::from_env()?;
    /// let users = roster.users();
    /// let user = users
    ///     .create(&CreateUser {
    ///         public_metadata: Some(json!({ "role": "admin", "team": "core" })),
    ///         unsafe_metadata: Some(json!({ "theme": "dark" })),
    ///         ..Default::default()
    ///     })
    ///     .await?;
    ///
    /// let update = MetadataUpdate::default().public(json!({ "role": "viewer" }))?;
    /// let user = users.replace_metadata(&user.id, &update).await?;
    /// assert_eq!(user.public_metadata, json!({ "role": "viewer" })); // "team" is gone
    /// assert_eq!(user.unsafe_metadata, json!({ "theme": "dark" }));
    /// # users.delete(&user.id).await?;
    /// # Ok(()) }
    /// ```
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

    /// Changes the fields set in `update` (`PATCH /v1/users/{id}`); metadata is untouched.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), roster_sdk::Error> {
    /// # if std::env::var("ROSTER_API_URL").is_err() { return Ok(()) }
    /// use roster_sdk::{Client, CreateUser, UpdateUser};
    ///
    /// let roster = Client::from_env()?;
    /// let users = roster.users();
    /// let user = users
    ///     .create(&CreateUser {
    ///         first_name: Some("Ada".into()),
    ///         last_name: Some("Byron".into()),
    ///         ..Default::default()
    ///     })
    ///     .await?;
    /// let change = UpdateUser {
    ///     last_name: Some(Some("Lovelace".into())),
    ///     first_name: Some(None), // clears it
    ///     ..Default::default()
    /// };
    /// let user = users.update(&user.id, &change).await?;
    /// assert_eq!(user.first_name, None);
    /// assert_eq!(user.last_name.as_deref(), Some("Lovelace"));
    /// # users.delete(&user.id).await?;
    /// # Ok(()) }
    /// ```
    pub async fn update(&self, id: &str, update: &UpdateUser) -> Result<User, Error> {
        self.client
            .send(Method::PATCH, &path(id, ""), &[], Some(&to_value(update)?))
            .await
    }

    /// Deletes the user and revokes their sessions (`DELETE /v1/users/{id}`).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), roster_sdk::Error> {
    /// # if std::env::var("ROSTER_API_URL").is_err() { return Ok(()) }
    /// use roster_sdk::{Client, CreateUser};
    ///
    /// let roster = Client::from_env()?;
    /// let user = roster.users().create(&CreateUser::default()).await?;
    /// let session = roster.sessions().create(&user.id).await?;
    ///
    /// roster.users().delete(&user.id).await?;
    /// let gone = roster.users().get(&user.id).await.unwrap_err();
    /// assert_eq!(gone.code(), Some("resource_not_found"));
    /// assert_eq!(roster.sessions().get(&session.id).await?.status, "revoked");
    /// # Ok(()) }
    /// ```
    pub async fn delete(&self, id: &str) -> Result<(), Error> {
        let _: DeletedObjectJson = self
            .client
            .send(Method::DELETE, &path(id, ""), &[], None)
            .await?;
        Ok(())
    }

    /// Bans the user (`POST /v1/users/{id}/ban`): their sessions are revoked, and they can
    /// neither sign in nor get a session or token until [unbanned](Users::unban).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), roster_sdk::Error> {
    /// # if std::env::var("ROSTER_API_URL").is_err() { return Ok(()) }
    /// use roster_sdk::{Client, CreateUser};
    ///
    /// let roster = Client::from_env()?;
    /// let user = roster.users().create(&CreateUser::default()).await?;
    /// let session = roster.sessions().create(&user.id).await?;
    ///
    /// assert!(roster.users().ban(&user.id).await?.banned);
    /// assert_eq!(roster.sessions().get(&session.id).await?.status, "revoked");
    /// let refused = roster.sessions().create(&user.id).await.unwrap_err();
    /// assert_eq!(refused.code(), Some("user_banned"));
    ///
    /// assert!(!roster.users().unban(&user.id).await?.banned);
    /// roster.sessions().create(&user.id).await?;
    /// # roster.users().delete(&user.id).await?;
    /// # Ok(()) }
    /// ```
    pub async fn ban(&self, id: &str) -> Result<User, Error> {
        self.client
            .send(Method::POST, &path(id, "/ban"), &[], None)
            .await
    }

    /// Lifts a ban (`POST /v1/users/{id}/unban`). Sessions revoked by the ban stay revoked.
    pub async fn unban(&self, id: &str) -> Result<User, Error> {
        self.client
            .send(Method::POST, &path(id, "/unban"), &[], None)
            .await
    }

    /// Locks the user (`POST /v1/users/{id}/lock`): until [unlocked](Users::unlock) they cannot
    /// sign in, and their sessions get no tokens (`user_locked`). Sessions are kept.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), roster_sdk::Error> {
    /// # if std::env::var("ROSTER_API_URL").is_err() { return Ok(()) }
    /// use roster_sdk::{Client, CreateUser};
    ///
    /// let roster = Client::from_env()?;
    /// let user = roster.users().create(&CreateUser::default()).await?;
    /// let session = roster.sessions().create(&user.id).await?;
    ///
    /// assert!(roster.users().lock(&user.id).await?.locked);
    /// let refused = roster.sessions().token(&session.id, None, None).await.unwrap_err();
    /// assert_eq!(refused.code(), Some("user_locked"));
    ///
    /// assert!(!roster.users().unlock(&user.id).await?.locked);
    /// roster.sessions().token(&session.id, None, None).await?;
    /// # roster.users().delete(&user.id).await?;
    /// # Ok(()) }
    /// ```
    pub async fn lock(&self, id: &str) -> Result<User, Error> {
        self.client
            .send(Method::POST, &path(id, "/lock"), &[], None)
            .await
    }

    /// Unlocks a locked user (`POST /v1/users/{id}/unlock`).
    pub async fn unlock(&self, id: &str) -> Result<User, Error> {
        self.client
            .send(Method::POST, &path(id, "/unlock"), &[], None)
            .await
    }

    /// Checks a password against the user's (`POST /v1/users/{id}/verify_password`): `true` when
    /// it matches, `false` when it does not.
    ///
    /// Fails with `password_not_set` when the user has no password.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), roster_sdk::Error> {
    /// # if std::env::var("ROSTER_API_URL").is_err() { return Ok(()) }
    /// # let unique = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    /// use roster_sdk::{Client, CreateUser};
    ///
    /// let roster = Client::from_env()?;
    /// let user = roster
    ///     .users()
    ///     .create(&CreateUser {
    ///         email_address: vec![format!("ada.{unique}@example.com")],
    ///         password: Some("correct horse battery staple".into()),
    ///         ..Default::default()
    ///     })
    ///     .await?;
    /// assert!(roster.users().verify_password(&user.id, "correct horse battery staple").await?);
    /// assert!(!roster.users().verify_password(&user.id, "Tr0ub4dor&3").await?);
    /// # roster.users().delete(&user.id).await?;
    /// # Ok(()) }
    /// ```
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

//! Sessions, session tokens, JWT templates, the custom session claims and the JWKS.

use reqwest::Method;
use serde_json::{json, Value};

use roster_proto::{
    JwksJson, JwtTemplateJson, PageJson, SessionJson, SessionTokenClaimsJson, TokenJson,
};

use crate::{Client, Error};

/// Session operations (`/v1/sessions`); from [`Client::sessions`].
///
/// Methods taking a session id fail with 404 `resource_not_found` when there is no such session.
pub struct Sessions<'a> {
    pub(crate) client: &'a Client,
}

impl Sessions<'_> {
    /// Creates an active session for a user without a sign-in (`POST /v1/sessions`), as Clerk's
    /// testing endpoint does: for tests and server-side tools.
    ///
    /// Fails with 403 `user_banned` or `user_locked` for a user who may not sign in.
    pub async fn create(&self, user_id: &str) -> Result<SessionJson, Error> {
        self.client
            .send(
                Method::POST,
                "/sessions",
                &[],
                Some(&json!({ "user_id": user_id })),
            )
            .await
    }

    /// The session with id `id` (`GET /v1/sessions/{id}`); its `status` is Clerk's, e.g. `active`,
    /// `revoked` or `expired`.
    pub async fn get(&self, id: &str) -> Result<SessionJson, Error> {
        self.client
            .send(
                Method::GET,
                &format!("/sessions/{}", crate::users::encode(id)),
                &[],
                None,
            )
            .await
    }

    /// One page of a user's sessions, newest first: at most `limit` (1 to 500) after skipping
    /// `offset`, with the total count (`GET /v1/sessions?user_id=…`).
    pub async fn list_for_user(
        &self,
        user_id: &str,
        limit: u32,
        offset: u64,
    ) -> Result<PageJson<SessionJson>, Error> {
        let query = vec![
            ("user_id".to_owned(), user_id.to_owned()),
            ("paginated".to_owned(), "true".to_owned()),
            ("limit".to_owned(), limit.to_string()),
            ("offset".to_owned(), offset.to_string()),
        ];
        self.client
            .send(Method::GET, "/sessions", &query, None)
            .await
    }

    /// Revokes the session (`POST /v1/sessions/{id}/revoke`): it gets no more tokens. Tokens
    /// already issued stay valid until they expire, so keep their lifetimes short.
    pub async fn revoke(&self, id: &str) -> Result<SessionJson, Error> {
        self.client
            .send(
                Method::POST,
                &format!("/sessions/{}/revoke", crate::users::encode(id)),
                &[],
                None,
            )
            .await
    }

    /// A token for an active session (`POST /v1/sessions/{id}/tokens[/{template}]`): a session
    /// token (60 s, with the instance's custom session claims), or with `template`, a token shaped
    /// by the JWT template of that name (its claims and lifetime, no `sid`).
    /// `expires_in_seconds` (30 s or more) overrides the lifetime.
    ///
    /// Fails with 404 `session_not_active` for a session that is not active, and 403
    /// `user_banned` or `user_locked` for a user who may not sign in.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # if std::env::var("ROSTER_API_URL").is_err() { return Ok(()) }
    /// # let unique = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    /// use roster_sdk::{Client, CreateUser};
    /// use serde::Deserialize;
    /// use serde_json::json;
    ///
    /// let roster = Client::from_env()?;
    /// let user = roster
    ///     .users()
    ///     .create(&CreateUser {
    ///         first_name: Some("Ada".into()),
    ///         public_metadata: Some(json!({ "role": "admin" })),
    ///         ..Default::default()
    ///     })
    ///     .await?;
    /// let session = roster.sessions().create(&user.id).await?;
    /// assert_eq!(session.status, "active");
    /// assert_eq!(roster.sessions().list_for_user(&user.id, 10, 0).await?.total_count, 1);
    ///
    /// // A JWT template, e.g. for a service that expects its own claims.
    /// let claims = json!({ "name": "{{user.first_name}}", "role": "{{user.public_metadata.role}}" });
    /// let name = format!("search-{unique}");
    /// let template = roster.tokens().create_template(&name, &claims, Some(300)).await?;
    /// let jwt = roster.sessions().token(&session.id, Some(&template.name), None).await?;
    ///
    /// #[derive(Deserialize)]
    /// struct SearchClaims {
    ///     name: String,
    ///     role: String,
    /// }
    /// let verified = roster.verifier().verify::<SearchClaims>(&jwt).await?;
    /// assert_eq!(verified.sub, user.id);
    /// assert_eq!((verified.custom.name.as_str(), verified.custom.role.as_str()), ("Ada", "admin"));
    /// assert_eq!((verified.sid, verified.exp - verified.iat), (None, 300));
    ///
    /// // A plain session token, with a longer lifetime than the default 60 s.
    /// let token = roster.sessions().token(&session.id, None, Some(120)).await?;
    /// let verified = roster.verifier().verify::<serde_json::Value>(&token).await?;
    /// assert_eq!((verified.sid.as_deref(), verified.exp - verified.iat), (Some(session.id.as_str()), 120));
    ///
    /// // A revoked session gets no more tokens.
    /// assert_eq!(roster.sessions().revoke(&session.id).await?.status, "revoked");
    /// let refused = roster.sessions().token(&session.id, None, None).await.unwrap_err();
    /// assert_eq!((refused.status(), refused.code()), (Some(404), Some("session_not_active")));
    /// # roster.tokens().delete_template(&template.id).await?;
    /// # roster.users().delete(&user.id).await?;
    /// # Ok(()) }
    /// ```
    pub async fn token(
        &self,
        id: &str,
        template: Option<&str>,
        expires_in_seconds: Option<u32>,
    ) -> Result<String, Error> {
        let path = match template {
            Some(t) => format!(
                "/sessions/{}/tokens/{}",
                crate::users::encode(id),
                crate::users::encode(t)
            ),
            None => format!("/sessions/{}/tokens", crate::users::encode(id)),
        };
        let body = expires_in_seconds.map(|s| json!({ "expires_in_seconds": s }));
        let token: TokenJson = self
            .client
            .send(Method::POST, &path, &[], body.as_ref())
            .await?;
        Ok(token.jwt)
    }
}

/// JWT templates, the instance's custom session claims and its public keys; from
/// [`Client::tokens`]. Tokens themselves come from [`Sessions::token`].
///
/// Claims templates are JSON objects whose strings may hold shortcodes such as
/// `{{user.public_metadata.role}}` or `{{user.first_name || 'anonymous'}}`, rendered from the
/// user when a token is minted. `user.private_metadata` cannot be named: every token can end up
/// in a browser.
pub struct Tokens<'a> {
    pub(crate) client: &'a Client,
}

impl Tokens<'_> {
    /// The instance's public signing keys (`GET /v1/jwks`), for verifying tokens elsewhere or
    /// with [`Verifier::from_jwks`](crate::Verifier::from_jwks).
    pub async fn jwks(&self) -> Result<JwksJson, Error> {
        self.client.send(Method::GET, "/jwks", &[], None).await
    }

    /// The custom claims template merged into every session token
    /// (`GET /v1/instance/session_token_claims`); `{}` when none is set.
    pub async fn session_claims(&self) -> Result<SessionTokenClaimsJson, Error> {
        self.client
            .send(Method::GET, "/instance/session_token_claims", &[], None)
            .await
    }

    /// Replaces the instance's custom session claims (`PUT /v1/instance/session_token_claims`);
    /// they apply to every session token minted from now on, for every user. The standard claims
    /// (`sub`, `sid`, `exp`, …) cannot be overridden (422 `form_param_value_invalid`).
    ///
    /// The answer's `sample_token_bytes` is the size of a token minted now for the newest user:
    /// keep session tokens well under the 4 KB a cookie can hold.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # if std::env::var("ROSTER_API_URL").is_err() { return Ok(()) }
    /// use roster_sdk::{Client, CreateUser};
    /// use serde::Deserialize;
    /// use serde_json::json;
    ///
    /// let roster = Client::from_env()?;
    /// # let before = roster.tokens().session_claims().await?;
    /// let claims = json!({ "role": "{{user.public_metadata.role || 'member'}}" });
    /// let set = roster.tokens().set_session_claims(&claims).await?;
    /// assert_eq!(set.claims, claims);
    ///
    /// let user = roster
    ///     .users()
    ///     .create(&CreateUser {
    ///         public_metadata: Some(json!({ "role": "admin" })),
    ///         ..Default::default()
    ///     })
    ///     .await?;
    /// let session = roster.sessions().create(&user.id).await?;
    /// let token = roster.sessions().token(&session.id, None, None).await?;
    ///
    /// #[derive(Deserialize)]
    /// struct AppClaims {
    ///     role: String,
    /// }
    /// let verified = roster.verifier().verify::<AppClaims>(&token).await?;
    /// assert_eq!(verified.custom.role, "admin");
    /// # roster.tokens().set_session_claims(&before.claims).await?;
    /// # roster.users().delete(&user.id).await?;
    /// # Ok(()) }
    /// ```
    pub async fn set_session_claims(
        &self,
        claims: &Value,
    ) -> Result<SessionTokenClaimsJson, Error> {
        self.client
            .send(
                Method::PUT,
                "/instance/session_token_claims",
                &[],
                Some(&json!({ "claims": claims })),
            )
            .await
    }

    /// Creates a JWT template (`POST /v1/jwt_templates`) with a unique `name` (at most 128
    /// characters, no `/`), a `claims` template and a token `lifetime` in seconds (default 60).
    /// Template tokens are signed with the instance key (RS256).
    ///
    /// Fails with 422 `form_already_exists` for a name in use, and `form_param_value_invalid`
    /// for claims that name a reserved claim or `user.private_metadata`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), roster_sdk::Error> {
    /// # if std::env::var("ROSTER_API_URL").is_err() { return Ok(()) }
    /// # let unique = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    /// use roster_sdk::Client;
    /// use serde_json::json;
    ///
    /// let roster = Client::from_env()?;
    /// let tokens = roster.tokens();
    /// let name = format!("hasura-{unique}");
    /// let claims = json!({ "https://hasura.io/jwt/claims": { "x-hasura-user-id": "{{user.id}}" } });
    /// let template = tokens.create_template(&name, &claims, None).await?;
    /// assert_eq!((template.lifetime, &template.claims), (60, &claims));
    ///
    /// let again = tokens.create_template(&name, &claims, None).await.unwrap_err();
    /// assert_eq!(again.code(), Some("form_already_exists"));
    ///
    /// let renamed = format!("{name}-v2");
    /// let updated = tokens.update_template(&template.id, &renamed, &claims, Some(3600)).await?;
    /// assert_eq!((updated.name.as_str(), updated.lifetime), (renamed.as_str(), 3600));
    /// assert_eq!(tokens.template(&template.id).await?.name, renamed);
    /// assert!(tokens.templates().await?.total_count >= 1);
    ///
    /// tokens.delete_template(&template.id).await?;
    /// let gone = tokens.template(&template.id).await.unwrap_err();
    /// assert_eq!(gone.code(), Some("resource_not_found"));
    /// # Ok(()) }
    /// ```
    pub async fn create_template(
        &self,
        name: &str,
        claims: &Value,
        lifetime: Option<u32>,
    ) -> Result<JwtTemplateJson, Error> {
        let mut body = json!({ "name": name, "claims": claims });
        if let Some(l) = lifetime {
            body["lifetime"] = json!(l);
        }
        self.client
            .send(Method::POST, "/jwt_templates", &[], Some(&body))
            .await
    }

    /// One JWT template by id (`GET /v1/jwt_templates/{id}`).
    pub async fn template(&self, id: &str) -> Result<JwtTemplateJson, Error> {
        self.client
            .send(
                Method::GET,
                &format!("/jwt_templates/{}", crate::users::encode(id)),
                &[],
                None,
            )
            .await
    }

    /// Replaces a template's name, claims and lifetime (`PATCH /v1/jwt_templates/{id}`; `name`
    /// and `claims` are required, as in Clerk). A `None` lifetime resets it to 60 s. See
    /// [`Tokens::create_template`] for an example.
    pub async fn update_template(
        &self,
        id: &str,
        name: &str,
        claims: &Value,
        lifetime: Option<u32>,
    ) -> Result<JwtTemplateJson, Error> {
        let mut body = json!({ "name": name, "claims": claims });
        if let Some(l) = lifetime {
            body["lifetime"] = json!(l);
        }
        self.client
            .send(
                Method::PATCH,
                &format!("/jwt_templates/{}", crate::users::encode(id)),
                &[],
                Some(&body),
            )
            .await
    }

    /// The first page of JWT templates, newest first (at most 10), with the total count
    /// (`GET /v1/jwt_templates`).
    pub async fn templates(&self) -> Result<PageJson<JwtTemplateJson>, Error> {
        self.client
            .send(
                Method::GET,
                "/jwt_templates",
                &[("paginated".into(), "true".into())],
                None,
            )
            .await
    }

    /// Deletes a JWT template (`DELETE /v1/jwt_templates/{id}`); tokens it minted stay valid
    /// until they expire.
    pub async fn delete_template(&self, id: &str) -> Result<(), Error> {
        let _: Value = self
            .client
            .send(
                Method::DELETE,
                &format!("/jwt_templates/{}", crate::users::encode(id)),
                &[],
                None,
            )
            .await?;
        Ok(())
    }
}

//! Sessions, session tokens, JWT templates, the custom session claims and the JWKS.

use reqwest::Method;
use serde_json::{json, Value};

use roster_proto::{
    JwksJson, JwtTemplateJson, PageJson, SessionJson, SessionTokenClaimsJson, TokenJson,
};

use crate::{Client, Error};

/// Session operations; from [`Client::sessions`].
pub struct Sessions<'a> {
    pub(crate) client: &'a Client,
}

impl Sessions<'_> {
    /// Creates a session for a user (a testing and server-side convenience).
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

    /// The sessions of a user, newest first, with the total count.
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

    /// A session token, or a token from the named JWT template; `expires_in_seconds` overrides
    /// the lifetime.
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
/// [`Client::tokens`].
pub struct Tokens<'a> {
    pub(crate) client: &'a Client,
}

impl Tokens<'_> {
    pub async fn jwks(&self) -> Result<JwksJson, Error> {
        self.client.send(Method::GET, "/jwks", &[], None).await
    }

    pub async fn session_claims(&self) -> Result<SessionTokenClaimsJson, Error> {
        self.client
            .send(Method::GET, "/instance/session_token_claims", &[], None)
            .await
    }

    /// Replaces the custom claims merged into every session token.
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

    /// One JWT template by id.
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

    /// Replaces a template's name, claims and lifetime (`name` and `claims` are required, as in
    /// Clerk).
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

    /// All JWT templates, newest first, with the total count.
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

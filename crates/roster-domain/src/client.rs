//! Frontend API clients: a browser or device, identified by the `__client` cookie, with its
//! sign-up in progress and its sessions.

use roster_proto::ClientJson;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::session::{Session, SessionStatus};

/// How long an unfinished sign-up is kept (Clerk: 24 hours).
pub const SIGN_UP_LIFETIME_MS: i64 = 86_400_000;

/// A client. `secret_hash` is the SHA-256 of the secret half of its cookie; the secret rotates on
/// every sign-in and sign-up so that a cookie planted before sign-in is worthless afterwards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Client {
    pub id: String,
    pub secret_hash: String,
    pub last_active_session_id: Option<String>,
    pub sign_up: Option<SignUpAttempt>,
    #[serde(default)]
    pub sign_in: Option<SignInAttempt>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A sign-up in progress. Only fields a frontend may set exist here: there is no public or
/// private metadata, so a frontend cannot smuggle either into the user it creates.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SignUpAttempt {
    pub id: String,
    pub email_address: Option<String>,
    pub username: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// BCP-47, copied to the user (absent from attempts stored before it existed).
    #[serde(default)]
    pub locale: Option<String>,
    /// The Argon2id digest of the password given, never the password.
    pub password_digest: Option<String>,
    pub unsafe_metadata: Value,
    pub legal_accepted_at: Option<i64>,
    pub created_user_id: Option<String>,
    pub created_session_id: Option<String>,
    pub abandon_at: i64,
    pub created_at: i64,
}

impl SignUpAttempt {
    /// The fields still needed before the user can be created (email address and password).
    pub fn missing_fields(&self) -> Vec<&'static str> {
        let mut missing = Vec::new();
        if self.email_address.is_none() {
            missing.push("email_address");
        }
        if self.password_digest.is_none() {
            missing.push("password");
        }
        missing
    }

    pub fn status(&self) -> &'static str {
        if self.created_user_id.is_some() {
            "complete"
        } else {
            "missing_requirements"
        }
    }
}

/// A sign-in in progress: the identifier given and, once the password matched, the session.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SignInAttempt {
    pub id: String,
    pub identifier: Option<String>,
    /// The user the identifier names (never shown before the password matched).
    pub user_id: Option<String>,
    pub created_session_id: Option<String>,
    pub abandon_at: i64,
}

impl SignInAttempt {
    pub fn status(&self) -> &'static str {
        match (&self.created_session_id, &self.identifier) {
            (Some(_), _) => "complete",
            (None, Some(_)) => "needs_first_factor",
            (None, None) => "needs_identifier",
        }
    }
}

/// Counts a wrong password; the user is locked once the attempts run out. Returns whether the
/// user is now locked.
///
/// The count stays at the maximum while the lock lasts, so the user shows no attempts remaining
/// (as at Clerk); a lock that has run out starts the count afresh.
pub fn record_failed_password(user: &mut crate::User, now: i64) -> bool {
    user.failed_verification_attempts = user.counted_failed_attempts(now) + 1;
    if user.locked_until.is_some_and(|until| until <= now) {
        user.locked_until = None;
    }
    if user.failed_verification_attempts >= crate::user::MAX_VERIFICATION_ATTEMPTS {
        user.locked_until = Some(now + crate::user::LOCKOUT_MS);
        return true;
    }
    false
}

/// The Backend API's view of client `id`: its stored record if the Frontend API created it, and
/// the sessions that name it (newest first), of which the active ones are listed. A session made
/// by `POST /v1/sessions` names a client that has no record; such a client is known by its
/// sessions alone. `None` when neither exists.
pub fn client_view(
    id: &str,
    record: Option<&Client>,
    sessions: &[Session],
    now: i64,
) -> Option<ClientJson> {
    let active: Vec<&Session> = sessions
        .iter()
        .filter(|s| s.status_at(now) == SessionStatus::Active)
        .collect();
    let (last_active_session_id, created_at, updated_at) = match record {
        Some(c) => (c.last_active_session_id.clone(), c.created_at, c.updated_at),
        None => (
            active.first().map(|s| s.id.clone()),
            sessions.iter().map(|s| s.created_at).min()?,
            sessions.iter().map(|s| s.updated_at).max()?,
        ),
    };
    Some(ClientJson {
        object: "client".into(),
        id: id.to_owned(),
        session_ids: active.iter().map(|s| s.id.clone()).collect(),
        sessions: active.iter().map(|s| s.to_json(now)).collect(),
        sign_in_id: record
            .and_then(|c| c.sign_in.as_ref())
            .map(|a| a.id.clone()),
        sign_up_id: record
            .and_then(|c| c.sign_up.as_ref())
            .map(|a| a.id.clone()),
        last_active_session_id,
        last_authentication_strategy: None,
        updated_at,
        created_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(id: &str, created_at: i64, status: SessionStatus) -> Session {
        let mut s = Session::new(id.into(), "user_1".into(), "client_1".into(), created_at);
        s.status = status;
        s
    }

    #[test]
    fn client_views() {
        // Newest first, as the store lists them.
        let sessions = [
            session("sess_3", 30, SessionStatus::Revoked),
            session("sess_2", 20, SessionStatus::Active),
            session("sess_1", 10, SessionStatus::Active),
        ];
        assert_eq!(client_view("client_1", None, &[], 40), None);

        // Known by its sessions alone: the active ones are listed, the newest is the last active.
        let view = client_view("client_1", None, &sessions, 40).unwrap_or_else(|| panic!());
        assert_eq!(view.session_ids, ["sess_2", "sess_1"]);
        assert_eq!(view.sessions.len(), 2);
        assert_eq!(view.last_active_session_id.as_deref(), Some("sess_2"));
        assert_eq!((view.created_at, view.updated_at), (10, 30));
        assert_eq!((view.sign_in_id, view.sign_up_id), (None, None));

        // An expired session is not listed.
        let later = sessions[1].expire_at;
        let view = client_view("client_1", None, &sessions, later).unwrap_or_else(|| panic!());
        assert!(view.session_ids.is_empty());
        assert_eq!(view.last_active_session_id, None);

        // A stored client speaks for itself.
        let record = Client {
            id: "client_1".into(),
            secret_hash: "h".into(),
            last_active_session_id: Some("sess_1".into()),
            sign_up: Some(SignUpAttempt {
                id: "sua_1".into(),
                ..SignUpAttempt::default()
            }),
            sign_in: None,
            created_at: 5,
            updated_at: 50,
        };
        let view = client_view("client_1", Some(&record), &[], 40).unwrap_or_else(|| panic!());
        assert_eq!(view.last_active_session_id.as_deref(), Some("sess_1"));
        assert_eq!((view.created_at, view.updated_at), (5, 50));
        assert_eq!(view.sign_up_id.as_deref(), Some("sua_1"));
        assert!(view.sessions.is_empty());
        let json = serde_json::to_value(&view).unwrap_or_default();
        assert!(json.get("secret_hash").is_none());
        assert_eq!(json["object"], "client");
    }

    #[test]
    fn requirements() {
        let mut s = SignUpAttempt::default();
        assert_eq!(s.missing_fields(), vec!["email_address", "password"]);
        assert_eq!(s.status(), "missing_requirements");
        s.email_address = Some("a@x.com".into());
        s.password_digest = Some("$argon2id$…".into());
        assert!(s.missing_fields().is_empty());
        s.created_user_id = Some("user_1".into());
        assert_eq!(s.status(), "complete");
    }

    #[test]
    fn sign_in_states() {
        let mut s = SignInAttempt::default();
        assert_eq!(s.status(), "needs_identifier");
        s.identifier = Some("a@x.com".into());
        assert_eq!(s.status(), "needs_first_factor");
        s.created_session_id = Some("sess_1".into());
        assert_eq!(s.status(), "complete");
    }

    #[test]
    fn lockout_after_the_last_attempt() {
        let mut user =
            crate::User::create(crate::user::NewUser::default(), 0, |p| format!("{p}_1"))
                .unwrap_or_else(|e| panic!("{e}"));
        for _ in 1..crate::user::MAX_VERIFICATION_ATTEMPTS {
            assert!(!record_failed_password(&mut user, 10));
        }
        assert!(!user.is_locked(10));
        let remaining = |u: &crate::User, now| {
            u.to_json(&crate::user::RenderContext {
                now,
                default_image_url: "",
            })
            .verification_attempts_remaining
        };
        assert_eq!(remaining(&user, 10), Some(1));
        assert!(record_failed_password(&mut user, 10));
        assert!(user.is_locked(10));
        assert_eq!(remaining(&user, 10), Some(0), "none left while locked");
        let expired = 10 + crate::user::LOCKOUT_MS;
        assert!(!user.is_locked(expired));
        assert_eq!(
            remaining(&user, expired),
            Some(crate::user::MAX_VERIFICATION_ATTEMPTS),
            "a lockout that ran out starts the count afresh"
        );
        assert!(!record_failed_password(&mut user, expired));
        assert_eq!(user.locked_until, None);
        assert_eq!(
            remaining(&user, expired),
            Some(crate::user::MAX_VERIFICATION_ATTEMPTS - 1)
        );
    }

    #[test]
    fn the_attempt_has_no_privileged_tiers() {
        let wire = serde_json::to_value(SignUpAttempt::default()).unwrap_or_default();
        assert!(wire.get("public_metadata").is_none());
        assert!(wire.get("private_metadata").is_none());
    }
}

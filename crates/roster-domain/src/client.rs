//! Frontend API clients: a browser or device, identified by the `__client` cookie, with its
//! sign-up in progress and its sessions.

use serde::{Deserialize, Serialize};
use serde_json::Value;

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

#[cfg(test)]
mod tests {
    use super::*;

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

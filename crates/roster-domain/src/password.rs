//! Passwords: policy checks, Argon2id hashing, and verification of imported digests.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;

use crate::DomainError;

pub const MIN_PASSWORD_CHARS: usize = 8;
/// Upper bound so a huge password cannot make hashing expensive.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// The hashers Roster accepts for `password_digest` imports.
pub const SUPPORTED_HASHERS: &[&str] = &["argon2id", "argon2i", "bcrypt"];

/// Checks the length policy. `skip_checks` (Clerk's `skip_password_checks`) waives the minimum
/// length but never the upper bound.
pub fn check_policy(password: &str, skip_checks: bool) -> Result<(), DomainError> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(DomainError::PasswordTooLong);
    }
    if !skip_checks && password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(DomainError::PasswordTooShort);
    }
    Ok(())
}

/// An Argon2id PHC string for the password. CPU-heavy: call it off the async executor.
pub fn hash(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

/// True when `password` matches the stored digest (Argon2 PHC or bcrypt). Constant-time in the
/// hash comparison; CPU-heavy.
pub fn verify(password: &str, stored: &str) -> bool {
    if stored.starts_with("$2") {
        return bcrypt::verify(password, stored).unwrap_or(false);
    }
    match PasswordHash::new(stored) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Checks an imported digest has the shape its hasher produces.
pub fn check_digest(hasher: &str, digest: &str) -> Result<(), DomainError> {
    let ok = match hasher {
        "bcrypt" => digest.parse::<bcrypt::HashParts>().is_ok(),
        "argon2id" => digest.starts_with("$argon2id$") && PasswordHash::new(digest).is_ok(),
        "argon2i" => digest.starts_with("$argon2i$") && PasswordHash::new(digest).is_ok(),
        _ => {
            return Err(DomainError::InvalidValue {
                param: "password_hasher".into(),
                reason: format!(
                    "{hasher} is not supported; supported hashers: {}",
                    SUPPORTED_HASHERS.join(", ")
                ),
            })
        }
    };
    if ok {
        Ok(())
    } else {
        Err(DomainError::InvalidFormat {
            param: "password_digest".into(),
            reason: format!("password_digest is not a valid {hasher} digest."),
        })
    }
}

/// A fixed Argon2id digest of a random password, verified against when the user is unknown so
/// that an unknown identifier costs the same time as a wrong password.
pub const DUMMY_DIGEST: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$2Pj8C2pQ8vQyKJqyc4o6uVCzq8wI2XdlHNqK3hcSmtk";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_then_verify() {
        let digest = hash("correct horse").unwrap_or_default();
        assert!(digest.starts_with("$argon2id$"));
        assert!(verify("correct horse", &digest));
        assert!(!verify("wrong horse", &digest));
    }

    #[test]
    fn policy() {
        assert_eq!(
            check_policy("short", false),
            Err(DomainError::PasswordTooShort)
        );
        assert!(check_policy("short", true).is_ok());
        assert!(check_policy("long enough", false).is_ok());
        assert_eq!(
            check_policy(&"x".repeat(2000), true),
            Err(DomainError::PasswordTooLong)
        );
    }

    #[test]
    fn bcrypt_digests_verify() {
        let digest = bcrypt::hash("imported-pass", 4).unwrap_or_default();
        assert!(check_digest("bcrypt", &digest).is_ok());
        assert!(verify("imported-pass", &digest));
        assert!(!verify("other", &digest));
        assert!(check_digest("bcrypt", "nonsense").is_err());
        assert!(check_digest("md5", "x").is_err());
    }

    #[test]
    fn garbage_digest_never_verifies() {
        assert!(!verify("x", "not a digest"));
        assert!(!verify("x", DUMMY_DIGEST));
    }
}

//! Passwords: policy checks, Argon2id hashing, and verification of imported digests.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use std::sync::OnceLock;

use argon2::Argon2;

use crate::DomainError;

pub const MIN_PASSWORD_CHARS: usize = 8;
/// Upper bound so a huge password cannot make hashing expensive.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// The hashers Roster accepts for `password_digest` imports, in Clerk's formats.
pub const SUPPORTED_HASHERS: &[&str] = &[
    "argon2id",
    "argon2i",
    "bcrypt",
    "bcrypt_sha256_django",
    "md5",
    "sha256",
    "pbkdf2_sha256",
    "pbkdf2_sha256_django",
    "pbkdf2_sha1",
];

/// Imported digests other than Argon2 and bcrypt are stored tagged with their hasher,
/// `import$<hasher>$<digest>`: an md5 or sha256 digest does not say what it is, and
/// `pbkdf2_sha256` and its Django variant look alike but encode the salt differently.
const IMPORT_TAG: &str = "import$";

/// Import bounds on the work factors. Each sign-in runs the digest's whole cost (bcrypt's 2^cost
/// rounds, Argon2's memory and passes, PBKDF2's iterations) while holding one of the few password
/// workers, so an imported digest could otherwise stall every sign-in for hours, or exhaust memory.
/// The bounds sit above what the systems Roster imports from use by default.
const MAX_BCRYPT_COST: u32 = 14;
const MAX_ARGON2_MEMORY_KIB: u32 = 262_144;
const MAX_ARGON2_PASSES: u32 = 16;
const MAX_ARGON2_LANES: u32 = 16;
const MAX_PBKDF2_ITERATIONS: u32 = 1_200_000;

/// A bcrypt digest whose cost Roster will run: `$2?$<cost>$<22 salt><31 hash>` in bcrypt's
/// alphabet.
fn bcrypt_importable(digest: &str) -> bool {
    // ASCII first: the parser slices by bytes.
    if digest.len() != 60 || !digest.is_ascii() {
        return false;
    }
    let Ok(parts) = digest.parse::<bcrypt::HashParts>() else {
        return false;
    };
    let alphabet = |c: char| c.is_ascii_alphanumeric() || c == '.' || c == '/';
    (4..=MAX_BCRYPT_COST).contains(&parts.get_cost()) && digest[7..].chars().all(alphabet)
}

/// An Argon2 digest of this variant whose memory and passes Roster will run.
fn argon2_importable(digest: &str, variant: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(digest) else {
        return false;
    };
    let Ok(params) = argon2::Params::try_from(&parsed) else {
        return false;
    };
    parsed.algorithm.as_str() == variant
        && params.m_cost() <= MAX_ARGON2_MEMORY_KIB
        && params.t_cost() <= MAX_ARGON2_PASSES
        && params.p_cost() <= MAX_ARGON2_LANES
}

/// Checks the length policy and the breach list. `skip_checks` (Clerk's `skip_password_checks`)
/// waives the minimum length and the breach list but never the upper bound.
pub fn check_policy(password: &str, skip_checks: bool) -> Result<(), DomainError> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(DomainError::PasswordTooLong);
    }
    if skip_checks {
        return Ok(());
    }
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(DomainError::PasswordTooShort);
    }
    if is_breached(password) {
        return Err(DomainError::PasswordPwned);
    }
    Ok(())
}

/// Common passwords from public breaches, lower-case, after a header that ends with a blank line
/// (the file says where the list comes from).
const BREACHED_PASSWORDS: &str = include_str!("../data/breached-passwords.txt");

/// Whether the password, ignoring case, is one of the common breached passwords. Clerk checks
/// passwords against a breach service; Roster makes no network calls, so it carries the most
/// common ones (about 18,000 of 8 characters or more).
pub fn is_breached(password: &str) -> bool {
    static SORTED: OnceLock<Vec<&'static str>> = OnceLock::new();
    let sorted = SORTED.get_or_init(|| {
        let list = BREACHED_PASSWORDS
            .split_once("\n\n")
            .map_or("", |(_header, list)| list);
        let mut words: Vec<&str> = list.lines().filter(|w| !w.is_empty()).collect();
        words.sort_unstable();
        words
    });
    sorted
        .binary_search(&password.to_lowercase().as_str())
        .is_ok()
}

/// An Argon2id PHC string for the password. CPU-heavy: call it off the async executor.
pub fn hash(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

/// True when `password` matches the stored digest (Argon2 PHC, bcrypt, or a tagged import).
/// Constant-time in the hash comparison; CPU-heavy.
pub fn verify(password: &str, stored: &str) -> bool {
    if let Some(rest) = stored.strip_prefix(IMPORT_TAG) {
        return rest
            .split_once('$')
            .and_then(|(hasher, digest)| Imported::parse(hasher, digest))
            .is_some_and(|imported| imported.matches(password));
    }
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

/// Whether a stored digest was imported from another system's format (not Argon2 or bcrypt).
pub fn is_imported(stored: &str) -> bool {
    stored.starts_with(IMPORT_TAG)
}

/// What Roster stores for an imported digest that [`check_digest`] accepted.
pub fn stored_digest(hasher: &str, digest: &str) -> String {
    match hasher {
        "bcrypt" | "argon2id" | "argon2i" => digest.to_owned(),
        other => format!("{IMPORT_TAG}{other}${digest}"),
    }
}

/// A digest from another system, parsed from Clerk's format for its hasher.
#[derive(Debug, PartialEq)]
enum Imported<'a> {
    /// The hex digest of the password.
    Md5(Vec<u8>),
    Sha256(Vec<u8>),
    Pbkdf2 {
        sha1: bool,
        iterations: u32,
        salt: Vec<u8>,
        hash: Vec<u8>,
    },
    /// Django's: bcrypt of the hex SHA-256 of the password.
    BcryptSha256(&'a str),
}

impl<'a> Imported<'a> {
    fn parse(hasher: &str, digest: &'a str) -> Option<Imported<'a>> {
        use base64::Engine;
        let b64 = |s: &str| {
            let e = &base64::engine::general_purpose::STANDARD;
            e.decode(s)
                .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(s))
                .ok()
        };
        let sized = |bytes: Vec<u8>, len: usize| (bytes.len() == len).then_some(bytes);
        match hasher {
            "md5" => sized(hex::decode(digest).ok()?, 16).map(Imported::Md5),
            "sha256" => sized(hex::decode(digest).ok()?, 32).map(Imported::Sha256),
            "bcrypt_sha256_django" => {
                let bcrypt_part = digest.strip_prefix("bcrypt_sha256$")?;
                bcrypt_importable(bcrypt_part).then_some(Imported::BcryptSha256(bcrypt_part))
            }
            "pbkdf2_sha256" | "pbkdf2_sha256_django" | "pbkdf2_sha1" => {
                let mut parts = digest.split('$');
                let (Some(name), Some(iterations), Some(salt), Some(hash), None) = (
                    parts.next(),
                    parts.next(),
                    parts.next(),
                    parts.next(),
                    parts.next(),
                ) else {
                    return None;
                };
                let sha1 = hasher == "pbkdf2_sha1";
                if name != if sha1 { "pbkdf2_sha1" } else { "pbkdf2_sha256" } {
                    return None;
                }
                let iterations: u32 = iterations.parse().ok()?;
                let (salt, hash) = match hasher {
                    // Both base64.
                    "pbkdf2_sha256" => (b64(salt)?, b64(hash)?),
                    // As Django exports it: the salt as is, the hash in base64.
                    "pbkdf2_sha256_django" => (salt.as_bytes().to_vec(), b64(hash)?),
                    // The salt as is, the hash in hex.
                    _ => (salt.as_bytes().to_vec(), hex::decode(hash).ok()?),
                };
                // The hash is one block of the PRF: SHA-1's 20 bytes, SHA-256's 32.
                let plausible = (1..=MAX_PBKDF2_ITERATIONS).contains(&iterations)
                    && !salt.is_empty()
                    && hash.len() == if sha1 { 20 } else { 32 };
                plausible.then_some(Imported::Pbkdf2 {
                    sha1,
                    iterations,
                    salt,
                    hash,
                })
            }
            _ => None,
        }
    }

    fn matches(&self, password: &str) -> bool {
        use sha2::Digest;
        use subtle::ConstantTimeEq;
        let same = |a: &[u8], b: &[u8]| bool::from(a.ct_eq(b));
        match self {
            Imported::Md5(want) => same(&md5::Md5::digest(password.as_bytes()), want),
            Imported::Sha256(want) => same(&sha2::Sha256::digest(password.as_bytes()), want),
            Imported::BcryptSha256(bcrypt_part) => {
                let hexed = hex::encode(sha2::Sha256::digest(password.as_bytes()));
                bcrypt::verify(hexed, bcrypt_part).unwrap_or(false)
            }
            Imported::Pbkdf2 {
                sha1,
                iterations,
                salt,
                hash,
            } => {
                let mut got = vec![0u8; hash.len()];
                if *sha1 {
                    pbkdf2::pbkdf2_hmac::<sha1::Sha1>(
                        password.as_bytes(),
                        salt,
                        *iterations,
                        &mut got,
                    );
                } else {
                    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(
                        password.as_bytes(),
                        salt,
                        *iterations,
                        &mut got,
                    );
                }
                same(&got, hash)
            }
        }
    }
}

/// Checks an imported digest has the shape its hasher produces.
pub fn check_digest(hasher: &str, digest: &str) -> Result<(), DomainError> {
    let ok = match hasher {
        "bcrypt" => bcrypt_importable(digest),
        "argon2id" | "argon2i" => argon2_importable(digest, hasher),
        known if SUPPORTED_HASHERS.contains(&known) => Imported::parse(known, digest).is_some(),
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
    use sha2::Digest;

    #[test]
    fn hash_then_verify() {
        let digest = hash("correct horse").unwrap_or_default();
        assert!(digest.starts_with("$argon2id$"));
        assert!(verify("correct horse", &digest));
        assert!(!verify("wrong horse", &digest));
    }

    #[test]
    fn breach_list_is_read_whole() {
        // The first and last entries of the file, and none of its header.
        assert!(is_breached("password"));
        let last = BREACHED_PASSWORDS.lines().last().unwrap_or_default();
        assert!(!last.is_empty() && is_breached(last), "{last}");
        // A header line in lower case, so that only reading the list whole keeps it out.
        let header = BREACHED_PASSWORDS.lines().nth(2).unwrap_or_default();
        assert!(header.starts_with("# refuses") && header == header.to_lowercase());
        assert!(!is_breached(header), "{header}");
        assert!(!is_breached(""));
        assert!(!is_breached("correct horse battery staple"));
    }

    #[test]
    fn policy() {
        assert_eq!(
            check_policy("short", false),
            Err(DomainError::PasswordTooShort)
        );
        assert!(check_policy("short", true).is_ok());
        assert!(check_policy("long enough", false).is_ok());
        for breached in [
            "password",
            "Password123",
            "iloveyou123",
            "QWERTYUIOP",
            "12345678",
        ] {
            assert_eq!(
                check_policy(breached, false),
                Err(DomainError::PasswordPwned),
                "{breached}"
            );
            assert!(check_policy(breached, true).is_ok(), "skipped: {breached}");
        }
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
        assert!(check_digest("scrypt_firebase", "x").is_err());
    }

    /// Each imported format: accepted, stored tagged, verified against the right password only.
    /// The digests were made with Python's hashlib (and the documented md5 example).
    #[test]
    fn imported_digests_from_other_systems_verify() {
        let bcrypt_sha256 = format!(
            "bcrypt_sha256${}",
            bcrypt::hash(hex::encode(sha2::Sha256::digest(b"correct horse")), 4).unwrap()
        );
        let cases = [
            ("md5", "5f4dcc3b5aa765d61d8327deb882cf99", "password"),
            (
                "sha256",
                "4104d36f8da2c254349f85836793ebe029e0c957063a34c91c2e9203187b5631",
                "correct horse",
            ),
            (
                "pbkdf2_sha256_django",
                "pbkdf2_sha256$1000$seasalt42$DLjCn+VwiEMemQXgu8JpFEayHo19oxLeCyxZCF+tuek=",
                "correct horse",
            ),
            (
                "pbkdf2_sha256",
                "pbkdf2_sha256$1200$AQJiaW5hcnn/$h+2E9SHC0Datlrzz5xDuuF0YESxhAi0/cYKWP2UhFqw=",
                "correct horse",
            ),
            (
                "pbkdf2_sha1",
                "pbkdf2_sha1$900$pepperedsalt$d5a1a5ff8ddadf2034ee568bcacd6a5fca4f6ac0",
                "correct horse",
            ),
            (
                "bcrypt_sha256_django",
                bcrypt_sha256.as_str(),
                "correct horse",
            ),
        ];
        for (hasher, digest, password) in cases {
            assert_eq!(check_digest(hasher, digest), Ok(()), "{hasher}");
            let stored = stored_digest(hasher, digest);
            assert!(stored.starts_with("import$"), "{stored}");
            assert!(verify(password, &stored), "{hasher}");
            assert!(!verify("wrong horse", &stored), "{hasher}");
            assert!(
                !verify(password, digest),
                "{hasher}: untagged, the digest is not trusted"
            );
        }
        // The salt encodings differ, so one format's digest fails as the other's.
        let django = "pbkdf2_sha256$1000$seasalt42$DLjCn+VwiEMemQXgu8JpFEayHo19oxLeCyxZCF+tuek=";
        assert!(!verify(
            "correct horse",
            &stored_digest("pbkdf2_sha256", django)
        ));
    }

    #[test]
    fn malformed_or_costly_imports_are_refused() {
        for (hasher, digest) in [
            ("md5", "5f4dcc3b5aa765d61d8327deb882cf9"),
            ("md5", "zz4dcc3b5aa765d61d8327deb882cf99"),
            ("sha256", "5f4dcc3b5aa765d61d8327deb882cf99"),
            ("pbkdf2_sha256_django", "pbkdf2_sha256$1000$salt"),
            (
                "pbkdf2_sha256_django",
                "pbkdf2_sha1$1000$salt$DLjCn+VwiEMemQXgu8JpFEayHo19oxLeCyxZCF+tuek=",
            ),
            (
                "pbkdf2_sha256_django",
                "pbkdf2_sha256$0$salt$DLjCn+VwiEMemQXgu8JpFEayHo19oxLeCyxZCF+tuek=",
            ),
            (
                "pbkdf2_sha256_django",
                "pbkdf2_sha256$99999999$salt$DLjCn+VwiEMemQXgu8JpFEayHo19oxLeCyxZCF+tuek=",
            ),
            ("pbkdf2_sha1", "pbkdf2_sha1$900$salt$not-hex"),
            ("bcrypt_sha256_django", "$2b$04$abc"),
            // Work factors that would stall sign-ins: bcrypt 2^31 rounds, 4 GiB of Argon2.
            (
                "bcrypt",
                "$2b$31$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
            ),
            (
                "bcrypt_sha256_django",
                "bcrypt_sha256$$2b$31$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
            ),
            (
                "argon2id",
                "$argon2id$v=19$m=4194304,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$2Pj8C2pQ8vQyKJqyc4o6uVCzq8wI2XdlHNqK3hcSmtk",
            ),
            ("argon2i", DUMMY_DIGEST),
            // Not ASCII where the parser slices by bytes.
            ("bcrypt", "$2b$4$ééééééééééééééééééééééééééééééééééééééééééééééééééééééé"),
            // A PBKDF2 hash longer than one block.
            (
                "pbkdf2_sha1",
                "pbkdf2_sha1$900$pepperedsalt$d5a1a5ff8ddadf2034ee568bcacd6a5fca4f6ac0d5a1a5ff",
            ),
        ] {
            assert!(
                matches!(
                    check_digest(hasher, digest),
                    Err(DomainError::InvalidFormat { .. })
                ),
                "{hasher} {digest}"
            );
        }
        assert!(!verify("x", "import$md5$nothex"));
        assert!(!verify("x", "import$nosuch$abc"));
    }

    #[test]
    fn garbage_digest_never_verifies() {
        assert!(!verify("x", "not a digest"));
        assert!(!verify("x", DUMMY_DIGEST));
    }
}

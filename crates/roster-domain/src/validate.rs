//! Format checks for identifiers and other user fields.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::DomainError;

const MAX_EMAIL_BYTES: usize = 320;
pub const USERNAME_MIN: usize = 4;
pub const USERNAME_MAX: usize = 64;

/// Normalizes and checks an email address: trimmed, lower-cased, one `@`, a dotted domain.
pub fn email(raw: &str) -> Result<String, DomainError> {
    let value = raw.trim().to_lowercase();
    let invalid = || DomainError::InvalidFormat {
        param: "email_address".into(),
        reason: "email_address must be a valid email address.".into(),
    };
    if value.len() > MAX_EMAIL_BYTES || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid());
    }
    let (local, domain) = value.split_once('@').ok_or_else(invalid)?;
    let domain_ok = !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && domain
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '.');
    if local.is_empty() || local.len() > 64 || !domain_ok {
        return Err(invalid());
    }
    Ok(value)
}

/// A phone number without the spaces, dashes and brackets people write in it: the form Roster
/// stores, and the form a `phone_number` filter looks for.
pub fn phone_compact(raw: &str) -> String {
    raw.chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')'))
        .collect()
}

/// Checks an E.164 phone number: `+` and 8 to 15 digits (spaces and dashes are removed).
pub fn phone(raw: &str) -> Result<String, DomainError> {
    let value = phone_compact(raw);
    let digits = value.strip_prefix('+').unwrap_or("");
    if (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
        Ok(value)
    } else {
        Err(DomainError::InvalidFormat {
            param: "phone_number".into(),
            reason: "phone_number must be a valid phone number according to E.164 international standard.".into(),
        })
    }
}

/// Checks and lower-cases a username: 4 to 64 characters of letters, digits, `_`, `-` and `.`.
pub fn username(raw: &str) -> Result<String, DomainError> {
    let value = raw.trim().to_lowercase();
    let count = value.chars().count();
    let ok = (USERNAME_MIN..=USERNAME_MAX).contains(&count)
        && value
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(value)
    } else {
        Err(DomainError::InvalidFormat {
            param: "username".into(),
            reason: format!(
                "username must be between {USERNAME_MIN} and {USERNAME_MAX} characters long and contain only letters, digits, '_', '-' and '.'."
            ),
        })
    }
}

/// Checks the shape of an IANA time zone name such as `UTC`, `Europe/London`,
/// `America/Argentina/Buenos_Aires` or `Etc/GMT+5`: up to 64 characters of letters, digits, `_`,
/// `-` and `+`, in `/`-separated parts. (Whether the zone exists is the client's to know: Roster
/// carries no time zone database.)
pub fn timezone(raw: &str) -> Result<String, DomainError> {
    let ok = raw.len() <= 64
        && raw.split('/').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'+'))
        });
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(DomainError::InvalidFormat {
            param: "timezone".into(),
            reason: "timezone must be an IANA time zone name, such as Europe/London.".into(),
        })
    }
}

/// Checks a BCP-47-shaped locale such as `en`, `en-US` or `zh-Hant-TW`.
pub fn locale(raw: &str) -> Result<String, DomainError> {
    let ok = !raw.is_empty()
        && raw.len() <= 35
        && raw.split('-').enumerate().all(|(i, part)| {
            let len_ok = if i == 0 {
                (2..=3).contains(&part.len())
            } else {
                (1..=8).contains(&part.len())
            };
            len_ok && part.bytes().all(|b| b.is_ascii_alphanumeric())
        });
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(DomainError::InvalidFormat {
            param: "locale".into(),
            reason: "locale must be a valid BCP-47 language tag.".into(),
        })
    }
}

/// Parses an RFC3339 timestamp (`2012-10-20T07:15:20.902Z`) to unix milliseconds.
pub fn rfc3339_ms(param: &str, raw: &str) -> Result<i64, DomainError> {
    OffsetDateTime::parse(raw, &Rfc3339)
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
        .map_err(|_| DomainError::InvalidTime {
            param: param.to_owned(),
        })
}

/// Bounded free-text fields (names, external ids).
pub fn text(param: &str, raw: &str, max_bytes: usize) -> Result<String, DomainError> {
    if raw.len() > max_bytes || raw.chars().any(|c| c == '\0') {
        return Err(DomainError::InvalidValue {
            param: param.to_owned(),
            reason: format!("{param} must be at most {max_bytes} bytes without NUL characters."),
        });
    }
    Ok(raw.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(
            email(" Ada@Example.COM ").ok().as_deref(),
            Some("ada@example.com")
        );
        for bad in [
            "",
            "a",
            "a@b",
            "@x.com",
            "a@@x.com",
            "a b@x.com",
            "a@x..com",
            "a@.x.com",
            "a@x.com.",
        ] {
            assert!(email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn phones() {
        assert_eq!(
            phone("+1 555-010-0000").ok().as_deref(),
            Some("+15550100000")
        );
        for bad in ["5550100", "+12", "+1555abc0000", "+1234567890123456"] {
            assert!(phone(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn usernames() {
        assert_eq!(
            username("Ada_Lovelace").ok().as_deref(),
            Some("ada_lovelace")
        );
        for bad in ["abc", "has space", "semi;colon", &"x".repeat(65)] {
            assert!(username(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn timezones() {
        for good in [
            "UTC",
            "Europe/London",
            "America/Argentina/Buenos_Aires",
            "Etc/GMT+5",
            "EST5EDT",
        ] {
            assert_eq!(timezone(good).ok().as_deref(), Some(good));
        }
        for bad in [
            "",
            "/",
            "Europe/",
            "Europe//London",
            "Europe/Lon don",
            "x".repeat(65).as_str(),
            "Ürümqi",
        ] {
            assert!(timezone(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn locales() {
        for good in ["en", "en-US", "zh-Hant-TW"] {
            assert!(locale(good).is_ok(), "{good}");
        }
        for bad in ["", "e", "english-", "en_US"] {
            assert!(locale(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn times() {
        assert_eq!(
            rfc3339_ms("created_at", "2012-10-20T07:15:20.902Z").ok(),
            Some(1_350_717_320_902)
        );
        assert!(rfc3339_ms("created_at", "yesterday").is_err());
    }
}

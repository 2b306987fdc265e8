//! Revisions of a user, for safe concurrent updates (beyond Clerk): the server sends a user's
//! revision as its `ETag`, and a write carrying `If-Match` applies only while the user is still
//! at a revision it names, checked inside the store's transaction. Two clients that read the
//! same user and both write back cannot silently overwrite each other: the second gets a 412.

use std::hash::{Hash, Hasher};

use crate::user::User;
use crate::DomainError;

/// A user's whole stored state in 64 bits (XXH3 of every field): equal for equal users, and
/// different, but for a 2⁻⁶⁴ chance, once anything about the user changes, however the change
/// was made (Backend API, Frontend API, a sign-in) and on whichever instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revision(u64);

impl Revision {
    pub fn of(user: &User) -> Revision {
        let mut hasher = xxhash_rust::xxh3::Xxh3Default::new();
        user.hash(&mut hasher);
        Revision(hasher.finish())
    }

    /// The strong entity tag: 16 hex digits in quotes.
    pub fn etag(self) -> String {
        format!("\"{:016x}\"", self.0)
    }

    /// The revision an entity tag's opaque part (without quotes) names, if it is one.
    fn from_opaque(opaque: &str) -> Option<Revision> {
        if opaque.len() != 16 || !opaque.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        u64::from_str_radix(opaque, 16).ok().map(Revision)
    }
}

/// The entity tags of an `If-Match` or `If-None-Match` header (RFC 9110 §13.1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntityTags {
    /// `*`: any current revision.
    any: bool,
    strong: Vec<Revision>,
    weak: Vec<Revision>,
}

impl EntityTags {
    /// Parses a comma-separated list. Quotes are optional (a bare tag is read as its quoted
    /// form); `W/` marks a weak tag. A tag that names no revision (another server's, or garbage)
    /// is kept as naming none: it matches nothing, so a precondition on it fails rather than
    /// being ignored.
    pub fn parse<'a>(values: impl IntoIterator<Item = &'a str>) -> EntityTags {
        let mut tags = EntityTags::default();
        for tag in values.into_iter().flat_map(|v| v.split(',')) {
            let tag = tag.trim();
            if tag == "*" {
                tags.any = true;
                continue;
            }
            let (weak, tag) = match tag.strip_prefix("W/") {
                Some(rest) => (true, rest),
                None => (false, tag),
            };
            let opaque = tag
                .strip_prefix('"')
                .and_then(|t| t.strip_suffix('"'))
                .unwrap_or(tag);
            if let Some(revision) = Revision::from_opaque(opaque) {
                if weak {
                    tags.weak.push(revision);
                } else {
                    tags.strong.push(revision);
                }
            }
        }
        tags
    }

    /// `If-Match`: strong comparison, so a weak tag never matches.
    pub fn matches_strongly(&self, revision: Revision) -> bool {
        self.any || self.strong.contains(&revision)
    }

    /// `If-None-Match`: weak comparison.
    pub fn matches_weakly(&self, revision: Revision) -> bool {
        self.any || self.strong.contains(&revision) || self.weak.contains(&revision)
    }

    /// The check an edit runs first, on the user as stored: refused unless `If-Match` names
    /// its current revision.
    pub fn require(&self, user: &User) -> Result<(), DomainError> {
        if self.matches_strongly(Revision::of(user)) {
            Ok(())
        } else {
            Err(DomainError::RevisionChanged)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::MetadataWrite;
    use crate::user::NewUser;
    use serde_json::json;

    fn user() -> User {
        let new = NewUser {
            email_addresses: vec![("ada@example.com".into(), true)],
            first_name: Some("Ada".into()),
            metadata: MetadataWrite {
                public: Some(json!({"plan": "pro", "seats": 3})),
                ..MetadataWrite::default()
            },
            ..NewUser::default()
        };
        User::create(new, 1_700_000_000_000, |p| format!("{p}_1")).unwrap()
    }

    #[test]
    fn equal_users_share_a_revision_and_any_change_makes_another() {
        let a = user();
        assert_eq!(Revision::of(&a), Revision::of(&a.clone()));
        let changes: [fn(&mut User); 6] = [
            |u| u.first_name = Some("Ada L".into()),
            |u| u.last_active_at = Some(1),
            |u| u.banned = true,
            |u| u.failed_verification_attempts += 1,
            |u| u.email_addresses[0].verified = false,
            |u| {
                let write = MetadataWrite {
                    private: Some(json!({"k": 1})),
                    ..MetadataWrite::default()
                };
                u.merge_metadata(&write, u.updated_at).unwrap();
            },
        ];
        for (i, change) in changes.iter().enumerate() {
            let mut b = a.clone();
            change(&mut b);
            assert_ne!(Revision::of(&a), Revision::of(&b), "change {i}");
        }
        // Metadata written as other text but the same value is the same state.
        let mut c = a.clone();
        let same = MetadataWrite {
            public: Some(json!({"plan": "pro", "seats": 3})),
            ..MetadataWrite::default()
        };
        c.replace_metadata(&same, a.updated_at).unwrap();
        assert_eq!(Revision::of(&a), Revision::of(&c));
    }

    #[test]
    fn etags_round_trip_and_compare_as_rfc_9110_says() {
        let r = Revision::of(&user());
        let etag = r.etag();
        assert_eq!(etag.len(), 18);
        assert!(etag.starts_with('"') && etag.ends_with('"'));
        let bare = etag.trim_matches('"').to_owned();
        let weak = format!("W/{etag}");
        for (header, strong, weak_match) in [
            (etag.as_str(), true, true),
            (bare.as_str(), true, true),
            (weak.as_str(), false, true),
            ("*", true, true),
            ("\"0000000000000000\"", false, false),
            ("\"not-ours\"", false, false),
            ("", false, false),
        ] {
            let tags = EntityTags::parse([header]);
            assert_eq!(tags.matches_strongly(r), strong, "If-Match: {header}");
            assert_eq!(
                tags.matches_weakly(r),
                weak_match,
                "If-None-Match: {header}"
            );
        }
        // Lists, across one or several header lines.
        let listed = format!("\"0000000000000000\", {etag}");
        assert!(EntityTags::parse([listed.as_str()]).matches_strongly(r));
        assert!(EntityTags::parse(["\"0000000000000000\"", etag.as_str()]).matches_strongly(r));
        // Not hex, or the wrong length, names nothing.
        for opaque in ["+000000000000000", "00000000000000000", "g000000000000000"] {
            assert_eq!(
                EntityTags::parse([opaque]),
                EntityTags::default(),
                "{opaque}"
            );
        }
    }

    #[test]
    fn require_refuses_a_stale_revision() {
        let a = user();
        let tags = EntityTags::parse([Revision::of(&a).etag().as_str()]);
        assert_eq!(tags.require(&a), Ok(()));
        let mut b = a.clone();
        b.first_name = None;
        assert_eq!(tags.require(&b), Err(DomainError::RevisionChanged));
    }
}

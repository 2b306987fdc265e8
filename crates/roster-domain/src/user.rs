//! The user as Roster stores it, the changes the Backend API can make to one, and its wire view.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use roster_proto::{
    EmailAddressJson, FrontendUserJson, PhoneNumberJson, UserJson, VerificationJson,
};

use crate::metadata::{self, Metadata, MetadataTier, MetadataWrite};
use crate::DomainError;

/// What rendering a user needs besides the user: the time (lock state depends on it) and the
/// URL of the default avatar, which is served by Roster itself.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderContext<'a> {
    pub now: i64,
    pub default_image_url: &'a str,
}

/// How many wrong verification attempts lock a user (Clerk's default).
pub const MAX_VERIFICATION_ATTEMPTS: i64 = 100;
/// How long a lock lasts unless lifted (Clerk's default: one hour).
pub const LOCKOUT_MS: i64 = 3_600_000;

/// An email address or phone number of a user.
#[derive(Debug, Clone, PartialEq, Hash, Serialize, Deserialize)]
pub struct Identification {
    pub id: String,
    pub value: String,
    /// `false` for Clerk's "reserved" identification status.
    pub verified: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A user, as loaded and saved by the store.
///
/// `password_digest` never leaves the server: the wire view ([`User::to_json`]) has no field for it.
/// `Hash` feeds [`crate::revision::Revision`]: every field counts.
#[derive(Debug, Clone, PartialEq, Hash, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub external_id: Option<String>,
    pub username: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub locale: Option<String>,
    /// An IANA time zone name (`Europe/London`), as `@clerk/backend` sets and reads it.
    pub timezone: Option<String>,
    pub email_addresses: Vec<Identification>,
    pub phone_numbers: Vec<Identification>,
    pub primary_email_address_id: Option<String>,
    pub primary_phone_number_id: Option<String>,
    pub password_digest: Option<String>,
    pub password_last_updated_at: Option<i64>,
    pub public_metadata: Metadata,
    pub private_metadata: Metadata,
    pub unsafe_metadata: Metadata,
    pub banned: bool,
    /// Unix ms until which the user is locked; `None` when not locked.
    pub locked_until: Option<i64>,
    pub failed_verification_attempts: i64,
    pub delete_self_enabled: bool,
    pub create_organization_enabled: bool,
    pub create_organizations_limit: Option<i64>,
    pub bypass_client_trust: bool,
    pub legal_accepted_at: Option<i64>,
    pub last_sign_in_at: Option<i64>,
    pub last_active_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A validated `POST /users`: every value already checked and normalized.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewUser {
    pub external_id: Option<String>,
    pub username: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub locale: Option<String>,
    pub timezone: Option<String>,
    /// Email addresses with their `verified` status; the first becomes primary.
    pub email_addresses: Vec<(String, bool)>,
    pub phone_numbers: Vec<(String, bool)>,
    pub password_digest: Option<String>,
    pub metadata: MetadataWrite,
    pub banned: bool,
    pub locked: bool,
    pub delete_self_enabled: Option<bool>,
    pub create_organization_enabled: Option<bool>,
    pub create_organizations_limit: Option<i64>,
    pub bypass_client_trust: Option<bool>,
    pub legal_accepted_at: Option<i64>,
    pub created_at: Option<i64>,
}

/// A validated `PATCH /users/{id}`. `Some(None)` clears a nullable field.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserChanges {
    pub external_id: Option<Option<String>>,
    pub username: Option<Option<String>>,
    pub first_name: Option<Option<String>>,
    pub last_name: Option<Option<String>>,
    pub locale: Option<Option<String>>,
    pub timezone: Option<Option<String>>,
    pub primary_email_address_id: Option<String>,
    pub primary_phone_number_id: Option<String>,
    pub password_digest: Option<String>,
    /// Legacy (API versions before 2026-05-12): metadata given here replaces the stored value.
    pub metadata: MetadataWrite,
    pub delete_self_enabled: Option<bool>,
    pub create_organization_enabled: Option<bool>,
    pub create_organizations_limit: Option<Option<i64>>,
    pub bypass_client_trust: Option<bool>,
    pub legal_accepted_at: Option<Option<i64>>,
    pub created_at: Option<i64>,
}

fn empty_object() -> Value {
    Value::Object(Map::new())
}

impl User {
    /// Builds a new user from a validated request. Ids come from `new_id`.
    pub fn create(
        new: NewUser,
        now: i64,
        mut new_id: impl FnMut(&str) -> String,
    ) -> Result<User, DomainError> {
        let created_at = new.created_at.unwrap_or(now);
        let identification = |(value, verified): (String, bool), id: String| Identification {
            id,
            value,
            verified,
            created_at,
            updated_at: created_at,
        };
        let email_addresses: Vec<Identification> = new
            .email_addresses
            .into_iter()
            .map(|e| identification(e, new_id("idn")))
            .collect();
        let phone_numbers: Vec<Identification> = new
            .phone_numbers
            .into_iter()
            .map(|p| identification(p, new_id("idn")))
            .collect();
        let mut user = User {
            id: new_id("user"),
            external_id: new.external_id,
            username: new.username,
            first_name: new.first_name,
            last_name: new.last_name,
            locale: new.locale,
            timezone: new.timezone,
            primary_email_address_id: email_addresses.first().map(|e| e.id.clone()),
            primary_phone_number_id: phone_numbers.first().map(|p| p.id.clone()),
            email_addresses,
            phone_numbers,
            password_last_updated_at: new.password_digest.as_ref().map(|_| now),
            password_digest: new.password_digest,
            public_metadata: Metadata::from_value(MetadataTier::Public, &empty_object())?,
            private_metadata: Metadata::from_value(MetadataTier::Private, &empty_object())?,
            unsafe_metadata: Metadata::from_value(MetadataTier::Unsafe, &empty_object())?,
            banned: new.banned,
            locked_until: new.locked.then_some(now + LOCKOUT_MS),
            failed_verification_attempts: 0,
            delete_self_enabled: new.delete_self_enabled.unwrap_or(true),
            create_organization_enabled: new.create_organization_enabled.unwrap_or(true),
            create_organizations_limit: new.create_organizations_limit,
            bypass_client_trust: new.bypass_client_trust.unwrap_or(false),
            legal_accepted_at: new.legal_accepted_at,
            last_sign_in_at: None,
            last_active_at: None,
            created_at,
            updated_at: now,
        };
        user.replace_metadata(&new.metadata, now)?;
        Ok(user)
    }

    pub fn metadata(&self, tier: MetadataTier) -> &Metadata {
        match tier {
            MetadataTier::Public => &self.public_metadata,
            MetadataTier::Private => &self.private_metadata,
            MetadataTier::Unsafe => &self.unsafe_metadata,
        }
    }

    fn metadata_mut(&mut self, tier: MetadataTier) -> &mut Metadata {
        match tier {
            MetadataTier::Public => &mut self.public_metadata,
            MetadataTier::Private => &mut self.private_metadata,
            MetadataTier::Unsafe => &mut self.unsafe_metadata,
        }
    }

    /// Deep-merges each tier sent into the stored one. All tiers are checked before any is
    /// changed, so a rejected write leaves the user as it was.
    pub fn merge_metadata(&mut self, write: &MetadataWrite, now: i64) -> Result<(), DomainError> {
        let mut next = Vec::with_capacity(3);
        for tier in MetadataTier::ALL {
            if let Some(patch) = write.get(tier) {
                let value = metadata::merged(tier, &self.metadata(tier).value(), patch)?;
                next.push((tier, Metadata::from_value(tier, &value)?));
            }
        }
        self.store_tiers(next, now);
        Ok(())
    }

    /// Replaces each tier sent; tiers not sent are untouched. All-or-nothing like the merge.
    pub fn replace_metadata(&mut self, write: &MetadataWrite, now: i64) -> Result<(), DomainError> {
        let mut next = Vec::with_capacity(3);
        for tier in MetadataTier::ALL {
            if let Some(value) = write.get(tier) {
                let value = metadata::replaced(tier, value)?;
                next.push((tier, Metadata::from_value(tier, &value)?));
            }
        }
        self.store_tiers(next, now);
        Ok(())
    }

    fn store_tiers(&mut self, next: Vec<(MetadataTier, Metadata)>, now: i64) {
        if next.is_empty() {
            return;
        }
        for (tier, value) in next {
            *self.metadata_mut(tier) = value;
        }
        self.updated_at = now;
    }

    /// Applies a validated update. Checks that can fail run before anything changes.
    pub fn apply_changes(&mut self, changes: UserChanges, now: i64) -> Result<(), DomainError> {
        if let Some(id) = &changes.primary_email_address_id {
            if !self
                .email_addresses
                .iter()
                .any(|e| &e.id == id && e.verified)
            {
                return Err(DomainError::InvalidValue {
                    param: "primary_email_address_id".into(),
                    reason: format!("{id} is not a verified email address of this user."),
                });
            }
        }
        if let Some(id) = &changes.primary_phone_number_id {
            if !self.phone_numbers.iter().any(|p| &p.id == id && p.verified) {
                return Err(DomainError::InvalidValue {
                    param: "primary_phone_number_id".into(),
                    reason: format!("{id} is not a verified phone number of this user."),
                });
            }
        }
        // Metadata first: it is the only change that can still be refused.
        self.replace_metadata(&changes.metadata, now)?;
        let UserChanges {
            external_id,
            username,
            first_name,
            last_name,
            locale,
            timezone,
            primary_email_address_id,
            primary_phone_number_id,
            password_digest,
            metadata: _,
            delete_self_enabled,
            create_organization_enabled,
            create_organizations_limit,
            bypass_client_trust,
            legal_accepted_at,
            created_at,
        } = changes;
        set(&mut self.external_id, external_id);
        set(&mut self.username, username);
        set(&mut self.first_name, first_name);
        set(&mut self.last_name, last_name);
        set(&mut self.locale, locale);
        set(&mut self.timezone, timezone);
        if primary_email_address_id.is_some() {
            self.primary_email_address_id = primary_email_address_id;
        }
        if primary_phone_number_id.is_some() {
            self.primary_phone_number_id = primary_phone_number_id;
        }
        if password_digest.is_some() {
            self.password_digest = password_digest;
            self.password_last_updated_at = Some(now);
        }
        set(&mut self.delete_self_enabled, delete_self_enabled);
        set(
            &mut self.create_organization_enabled,
            create_organization_enabled,
        );
        set(
            &mut self.create_organizations_limit,
            create_organizations_limit,
        );
        set(&mut self.bypass_client_trust, bypass_client_trust);
        set(&mut self.legal_accepted_at, legal_accepted_at);
        set(&mut self.created_at, created_at);
        self.updated_at = now;
        Ok(())
    }

    pub fn set_banned(&mut self, banned: bool, now: i64) {
        self.banned = banned;
        self.updated_at = now;
    }

    pub fn lock(&mut self, now: i64) {
        self.locked_until = Some(now + LOCKOUT_MS);
        self.updated_at = now;
    }

    pub fn unlock(&mut self, now: i64) {
        self.locked_until = None;
        self.failed_verification_attempts = 0;
        self.updated_at = now;
    }

    /// The `last_active_at` activity at `now` records, if it changes anything: Clerk keeps it at
    /// day precision, so the start of `now`'s UTC day, once per day.
    pub fn activity_day(&self, now: i64) -> Option<i64> {
        const DAY_MS: i64 = 86_400_000;
        let day = now - now.rem_euclid(DAY_MS);
        (self.last_active_at.is_none_or(|at| at < day)).then_some(day)
    }

    pub fn is_locked(&self, now: i64) -> bool {
        self.locked_until.is_some_and(|until| until > now)
    }

    /// The wrong verification attempts that still count towards a lockout: none once a lock has
    /// run out, so that a user whose lockout expired starts afresh instead of one guess away
    /// from the next.
    pub fn counted_failed_attempts(&self, now: i64) -> i64 {
        if self.locked_until.is_some_and(|until| until <= now) {
            0
        } else {
            self.failed_verification_attempts
        }
    }

    pub fn primary_email(&self) -> Option<&str> {
        let id = self.primary_email_address_id.as_deref()?;
        self.email_addresses
            .iter()
            .find(|e| e.id == id)
            .map(|e| e.value.as_str())
    }

    pub fn primary_phone(&self) -> Option<&str> {
        let id = self.primary_phone_number_id.as_deref()?;
        self.phone_numbers
            .iter()
            .find(|p| p.id == id)
            .map(|p| p.value.as_str())
    }

    /// The Backend API view of the user, with the tiers as stored.
    pub fn to_json(&self, ctx: &RenderContext<'_>) -> UserJson<Metadata> {
        let now = ctx.now;
        let locked = self.is_locked(now);
        UserJson {
            object: "user".into(),
            id: self.id.clone(),
            external_id: self.external_id.clone(),
            primary_email_address_id: self.primary_email_address_id.clone(),
            primary_phone_number_id: self.primary_phone_number_id.clone(),
            primary_web3_wallet_id: None,
            username: self.username.clone(),
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            locale: self.locale.clone(),
            timezone: self.timezone.clone(),
            profile_image_url: ctx.default_image_url.into(),
            image_url: ctx.default_image_url.into(),
            has_image: false,
            public_metadata: self.public_metadata.clone(),
            private_metadata: self.private_metadata.clone(),
            unsafe_metadata: self.unsafe_metadata.clone(),
            email_addresses: self.email_addresses.iter().map(email_json).collect(),
            phone_numbers: self.phone_numbers.iter().map(phone_json).collect(),
            web3_wallets: vec![],
            passkeys: vec![],
            password_enabled: self.password_digest.is_some(),
            two_factor_enabled: false,
            totp_enabled: false,
            backup_code_enabled: false,
            mfa_enabled_at: None,
            mfa_disabled_at: None,
            password_last_updated_at: self.password_last_updated_at,
            external_accounts: vec![],
            saml_accounts: vec![],
            enterprise_accounts: vec![],
            last_sign_in_at: self.last_sign_in_at,
            banned: self.banned,
            locked,
            lockout_expires_in_seconds: self
                .locked_until
                .filter(|_| locked)
                .map(|until| (until - now + 999) / 1000),
            verification_attempts_remaining: Some(
                (MAX_VERIFICATION_ATTEMPTS - self.counted_failed_attempts(now)).max(0),
            ),
            updated_at: self.updated_at,
            created_at: self.created_at,
            delete_self_enabled: self.delete_self_enabled,
            create_organization_enabled: self.create_organization_enabled,
            create_organizations_limit: self.create_organizations_limit,
            last_active_at: self.last_active_at,
            legal_accepted_at: self.legal_accepted_at,
            bypass_client_trust: self.bypass_client_trust,
        }
    }
}

impl User {
    /// The Frontend API view of the user, for the user themself: public and unsafe metadata only.
    pub fn to_frontend_json(&self, ctx: &RenderContext<'_>) -> FrontendUserJson<Metadata> {
        let b = self.to_json(ctx);
        FrontendUserJson {
            object: b.object,
            id: b.id,
            external_id: b.external_id,
            primary_email_address_id: b.primary_email_address_id,
            primary_phone_number_id: b.primary_phone_number_id,
            primary_web3_wallet_id: b.primary_web3_wallet_id,
            username: b.username,
            first_name: b.first_name,
            last_name: b.last_name,
            profile_image_url: b.profile_image_url,
            image_url: b.image_url,
            has_image: b.has_image,
            public_metadata: b.public_metadata,
            unsafe_metadata: b.unsafe_metadata,
            email_addresses: b.email_addresses,
            phone_numbers: b.phone_numbers,
            web3_wallets: b.web3_wallets,
            external_accounts: b.external_accounts,
            enterprise_accounts: b.enterprise_accounts,
            saml_accounts: b.saml_accounts,
            passkeys: b.passkeys,
            organization_memberships: vec![],
            password_enabled: b.password_enabled,
            totp_enabled: b.totp_enabled,
            backup_code_enabled: b.backup_code_enabled,
            two_factor_enabled: b.two_factor_enabled,
            banned: b.banned,
            locked: b.locked,
            lockout_expires_in_seconds: b.lockout_expires_in_seconds,
            verification_attempts_remaining: b.verification_attempts_remaining,
            mfa_enabled_at: b.mfa_enabled_at,
            mfa_disabled_at: b.mfa_disabled_at,
            password_last_updated_at: b.password_last_updated_at,
            last_sign_in_at: b.last_sign_in_at,
            last_active_at: b.last_active_at,
            create_organization_enabled: b.create_organization_enabled,
            create_organizations_limit: b.create_organizations_limit,
            delete_self_enabled: b.delete_self_enabled,
            legal_accepted_at: b.legal_accepted_at,
            updated_at: b.updated_at,
            created_at: b.created_at,
        }
    }
}

fn set<T>(slot: &mut T, change: Option<T>) {
    if let Some(value) = change {
        *slot = value;
    }
}

/// An identification's verification: an admin's for a verified one, none for a reserved one
/// (unverified, yet usable for sign-in and held for this user). Clerk's `verification_admin`
/// only ever says `verified`; the Python SDK refuses any other status.
fn verification(verified: bool) -> Option<VerificationJson> {
    verified.then(|| VerificationJson {
        object: "verification_admin".into(),
        status: "verified".into(),
        strategy: "admin".into(),
        attempts: None,
        expire_at: None,
    })
}

fn email_json(e: &Identification) -> EmailAddressJson {
    EmailAddressJson {
        id: e.id.clone(),
        object: "email_address".into(),
        email_address: e.value.clone(),
        reserved: !e.verified,
        verification: verification(e.verified),
        linked_to: vec![],
        matches_sso_connection: false,
        created_at: e.created_at,
        updated_at: e.updated_at,
    }
}

fn phone_json(p: &Identification) -> PhoneNumberJson {
    PhoneNumberJson {
        id: p.id.clone(),
        object: "phone_number".into(),
        phone_number: p.value.clone(),
        reserved_for_second_factor: false,
        default_second_factor: false,
        reserved: !p.verified,
        verification: verification(p.verified),
        linked_to: vec![],
        backup_codes: None,
        created_at: p.created_at,
        updated_at: p.updated_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ids() -> impl FnMut(&str) -> String {
        let mut n = 0;
        move |prefix: &str| {
            n += 1;
            format!("{prefix}_{n}")
        }
    }

    fn sample() -> User {
        let new = NewUser {
            email_addresses: vec![("a@x.com".into(), true), ("b@x.com".into(), false)],
            metadata: MetadataWrite {
                public: Some(json!({"role": "admin"})),
                private: None,
                unsafe_: Some(Value::Null),
            },
            ..NewUser::default()
        };
        match User::create(new, 1000, ids()) {
            Ok(user) => user,
            Err(e) => panic!("{e}"),
        }
    }

    fn at(now: i64) -> RenderContext<'static> {
        RenderContext {
            now,
            default_image_url: "http://localhost/avatar.svg",
        }
    }

    #[test]
    fn activity_is_recorded_once_a_day_at_day_precision() {
        let mut user = sample();
        let day = 1_700_006_400_000; // a UTC midnight
        assert_eq!(user.activity_day(day + 3_600_000), Some(day));
        user.last_active_at = Some(day);
        assert_eq!(user.activity_day(day + 86_399_999), None, "same day");
        assert_eq!(user.activity_day(day + 86_400_000), Some(day + 86_400_000));
        user.last_active_at = Some(day + 86_400_000);
        assert_eq!(user.activity_day(day + 5), None, "never backwards");
    }

    #[test]
    fn create_sets_primary_and_default_metadata() {
        let user = sample();
        assert_eq!(user.primary_email(), Some("a@x.com"));
        assert_eq!(user.public_metadata, json!({"role": "admin"}));
        assert_eq!(user.private_metadata, json!({}));
        assert_eq!(user.unsafe_metadata, json!({}));
        let wire = user.to_json(&at(1000));
        assert!(!wire.email_addresses[0].reserved);
        assert!(wire.email_addresses[1].reserved);
        let verification = wire.email_addresses[0].verification.as_ref();
        assert_eq!(
            verification.map(|v| (v.object.as_str(), v.status.as_str())),
            Some(("verification_admin", "verified"))
        );
        assert_eq!(wire.email_addresses[1].verification, None);
        assert!(!wire.password_enabled);
    }

    #[test]
    fn rejected_merge_changes_nothing() {
        let mut user = sample();
        let before = user.clone();
        let write = MetadataWrite {
            public: Some(json!({"ok": true})),
            private: Some(json!({"big": "x".repeat(9000)})),
            unsafe_: None,
        };
        assert!(user.merge_metadata(&write, 2000).is_err());
        assert_eq!(user, before);
    }

    #[test]
    fn rejected_update_changes_nothing() {
        let mut user = sample();
        let before = user.clone();
        let changes = UserChanges {
            first_name: Some(Some("Ada".into())),
            metadata: MetadataWrite {
                unsafe_: Some(json!([1])),
                ..MetadataWrite::default()
            },
            ..UserChanges::default()
        };
        assert!(user.apply_changes(changes, 2000).is_err());
        assert_eq!(user, before);
        let changes = UserChanges {
            first_name: Some(Some("Ada".into())),
            primary_email_address_id: Some("idn_unknown".into()),
            ..UserChanges::default()
        };
        assert!(user.apply_changes(changes, 2000).is_err());
        assert_eq!(user, before);
    }

    #[test]
    fn primary_email_must_be_verified() {
        let mut user = sample();
        let reserved = user.email_addresses[1].id.clone();
        let changes = UserChanges {
            primary_email_address_id: Some(reserved),
            ..UserChanges::default()
        };
        assert!(user.apply_changes(changes, 2000).is_err());
    }

    #[test]
    fn the_frontend_view_never_carries_private_metadata() {
        let mut user = sample();
        user.private_metadata = Metadata::from_value(
            MetadataTier::Private,
            &json!({"stripe": "cus_SECRET_VALUE"}),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let wire = serde_json::to_value(user.to_frontend_json(&at(1000))).unwrap_or_default();
        assert!(wire.get("private_metadata").is_none());
        assert!(!wire.to_string().contains("cus_SECRET_VALUE"));
        assert_eq!(wire["public_metadata"], json!({"role": "admin"}));
        assert!(wire.get("unsafe_metadata").is_some());
    }

    #[test]
    fn lock_expires() {
        let mut user = sample();
        user.lock(1000);
        let wire = user.to_json(&at(1000));
        assert!(wire.locked);
        assert_eq!(wire.lockout_expires_in_seconds, Some(3600));
        assert!(!user.to_json(&at(1000 + LOCKOUT_MS)).locked);
        user.unlock(2000);
        assert!(!user.to_json(&at(2000)).locked);
    }
}

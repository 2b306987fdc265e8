//! Wire types of Roster's Backend API: the JSON shapes Clerk's official clients send and expect.
//!
//! Field names and required-ness follow Clerk's OpenAPI files (`bapi_2026-05-12.yml`). Everything a
//! strict client (the pydantic models of `clerk-backend-api`) requires is always emitted, `null` where
//! there is no value. This crate holds no behaviour: rules live in `roster-domain`, HTTP in
//! `roster-server`. The Rust SDK depends on this crate alone.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The error envelope of every failed request: `{"errors":[…],"clerk_trace_id":"…"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorEnvelope {
    pub errors: Vec<ErrorJson>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clerk_trace_id: Option<String>,
}

/// One error in the envelope. `message`, `long_message` and `code` are always present.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorJson {
    pub message: String,
    pub long_message: String,
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<ErrorMeta>,
}

/// `meta` of an error: which request parameter it is about.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorMeta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub param_name: Option<String>,
}

/// The User object as the Backend API renders it (`object: "user"`). `M` is how the metadata
/// tiers are held: parsed values for clients, the stored JSON text when the server renders.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserJson<M = Value> {
    pub object: String,
    pub id: String,
    pub external_id: Option<String>,
    pub primary_email_address_id: Option<String>,
    pub primary_phone_number_id: Option<String>,
    pub primary_web3_wallet_id: Option<String>,
    pub username: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub locale: Option<String>,
    /// An IANA time zone name; `@clerk/backend` sets and reads it (not yet in Clerk's OpenAPI).
    #[serde(default)]
    pub timezone: Option<String>,
    pub profile_image_url: String,
    pub image_url: String,
    pub has_image: bool,
    pub public_metadata: M,
    pub private_metadata: M,
    pub unsafe_metadata: M,
    pub email_addresses: Vec<EmailAddressJson>,
    pub phone_numbers: Vec<PhoneNumberJson>,
    pub web3_wallets: Vec<Value>,
    pub passkeys: Vec<Value>,
    pub password_enabled: bool,
    pub two_factor_enabled: bool,
    pub totp_enabled: bool,
    pub backup_code_enabled: bool,
    pub mfa_enabled_at: Option<i64>,
    pub mfa_disabled_at: Option<i64>,
    pub password_last_updated_at: Option<i64>,
    pub external_accounts: Vec<Value>,
    pub saml_accounts: Vec<Value>,
    pub enterprise_accounts: Vec<Value>,
    pub last_sign_in_at: Option<i64>,
    pub banned: bool,
    pub locked: bool,
    pub lockout_expires_in_seconds: Option<i64>,
    pub verification_attempts_remaining: Option<i64>,
    pub updated_at: i64,
    pub created_at: i64,
    pub delete_self_enabled: bool,
    pub create_organization_enabled: bool,
    pub create_organizations_limit: Option<i64>,
    pub last_active_at: Option<i64>,
    pub legal_accepted_at: Option<i64>,
    pub bypass_client_trust: bool,
}

/// An email address of a user (`object: "email_address"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmailAddressJson {
    pub id: String,
    pub object: String,
    pub email_address: String,
    pub reserved: bool,
    pub verification: Option<VerificationJson>,
    pub linked_to: Vec<Value>,
    pub matches_sso_connection: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A phone number of a user (`object: "phone_number"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhoneNumberJson {
    pub id: String,
    pub object: String,
    pub phone_number: String,
    pub reserved_for_second_factor: bool,
    pub default_second_factor: bool,
    pub reserved: bool,
    pub verification: Option<VerificationJson>,
    pub linked_to: Vec<Value>,
    pub backup_codes: Option<Vec<String>>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A verification object. `object` is the discriminator the Python SDK needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerificationJson {
    pub object: String,
    pub status: String,
    pub strategy: String,
    pub attempts: Option<i64>,
    pub expire_at: Option<i64>,
}

/// `{"object":"user","id":…,"deleted":true}` and its kin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeletedObjectJson {
    pub object: String,
    pub id: String,
    pub deleted: bool,
}

/// `{"object":"total_count","total_count":N}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TotalCountJson {
    pub object: String,
    pub total_count: u64,
}

impl TotalCountJson {
    pub fn new(total_count: u64) -> Self {
        Self {
            object: "total_count".to_owned(),
            total_count,
        }
    }
}

/// The answer of `POST /users/{id}/verify_password`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerifiedJson {
    pub verified: bool,
}

/// A session (`object: "session"`). clerk-rs requires every field here but the nullable ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionJson {
    pub object: String,
    pub id: String,
    pub user_id: String,
    pub client_id: String,
    pub actor: Option<Value>,
    pub status: String,
    pub last_active_organization_id: Option<String>,
    pub last_active_at: i64,
    pub latest_activity: Option<Value>,
    pub expire_at: i64,
    pub abandon_at: i64,
    pub updated_at: i64,
    pub created_at: i64,
}

/// A client as the Backend API shows it (`object: "client"`): a browser or device and its
/// active sessions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientJson {
    pub object: String,
    pub id: String,
    pub session_ids: Vec<String>,
    pub sessions: Vec<SessionJson>,
    pub sign_in_id: Option<String>,
    pub sign_up_id: Option<String>,
    pub last_active_session_id: Option<String>,
    pub last_authentication_strategy: Option<String>,
    pub updated_at: i64,
    pub created_at: i64,
}

/// A JWT template (`object: "jwt_template"`); the signing key is never returned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JwtTemplateJson {
    pub object: String,
    pub id: String,
    pub name: String,
    pub claims: Value,
    pub lifetime: i64,
    pub allowed_clock_skew: i64,
    pub custom_signing_key: bool,
    pub signing_algorithm: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// `{"object":"token","jwt":"…"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenJson {
    pub object: String,
    pub jwt: String,
}

/// One public key of the JWKS.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JwkJson {
    #[serde(rename = "use")]
    pub use_: String,
    pub kty: String,
    pub kid: String,
    pub alg: String,
    pub n: String,
    pub e: String,
}

/// `{"keys":[…]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JwksJson {
    pub keys: Vec<JwkJson>,
}

/// `{"data":[…],"total_count":N}`: the paginated list shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PageJson<T> {
    pub data: Vec<T>,
    pub total_count: u64,
}

/// The instance's custom session claims.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionTokenClaimsJson {
    pub object: String,
    pub claims: Value,
    /// Bytes of a session token minted now for a sample user (the newest), or null without users.
    pub sample_token_bytes: Option<usize>,
}

/// The User object as the Frontend API renders it to the signed-in user. It has no
/// `private_metadata` field at all: a frontend caller cannot be handed what it cannot name. `M` as
/// in [`UserJson`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrontendUserJson<M = Value> {
    pub object: String,
    pub id: String,
    pub external_id: Option<String>,
    pub primary_email_address_id: Option<String>,
    pub primary_phone_number_id: Option<String>,
    pub primary_web3_wallet_id: Option<String>,
    pub username: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub profile_image_url: String,
    pub image_url: String,
    pub has_image: bool,
    pub public_metadata: M,
    pub unsafe_metadata: M,
    pub email_addresses: Vec<EmailAddressJson>,
    pub phone_numbers: Vec<PhoneNumberJson>,
    pub web3_wallets: Vec<Value>,
    pub external_accounts: Vec<Value>,
    pub enterprise_accounts: Vec<Value>,
    pub saml_accounts: Vec<Value>,
    pub passkeys: Vec<Value>,
    pub organization_memberships: Vec<Value>,
    pub password_enabled: bool,
    pub totp_enabled: bool,
    pub backup_code_enabled: bool,
    pub two_factor_enabled: bool,
    pub banned: bool,
    pub locked: bool,
    pub lockout_expires_in_seconds: Option<i64>,
    pub verification_attempts_remaining: Option<i64>,
    pub mfa_enabled_at: Option<i64>,
    pub mfa_disabled_at: Option<i64>,
    pub password_last_updated_at: Option<i64>,
    pub last_sign_in_at: Option<i64>,
    pub last_active_at: Option<i64>,
    pub create_organization_enabled: bool,
    pub create_organizations_limit: Option<i64>,
    pub delete_self_enabled: bool,
    pub legal_accepted_at: Option<i64>,
    pub updated_at: i64,
    pub created_at: i64,
}

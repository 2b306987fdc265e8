//! Sessions and JWT templates: the records behind session tokens.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use roster_proto::{JwtTemplateJson, SessionJson};

/// How long a session lives (Clerk's default: 7 days), and when an idle one is abandoned.
pub const SESSION_LIFETIME_MS: i64 = 7 * 86_400_000;
pub const SESSION_ABANDON_MS: i64 = 30 * 86_400_000;
/// A client's or a user's sessions are few; lists of them show at most this many.
pub const SESSIONS_LISTED: u32 = 100;
/// Default lifetime of a session token, in seconds.
pub const SESSION_TOKEN_LIFETIME_S: i64 = 60;
/// `expires_in_seconds` bounds, as in Clerk's API.
pub const MIN_TOKEN_LIFETIME_S: i64 = 30;
pub const MAX_TOKEN_LIFETIME_S: i64 = 315_360_000;
pub const MAX_CLOCK_SKEW_S: i64 = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    Active,
    Revoked,
    Ended,
    Expired,
    Removed,
    Abandoned,
    Replaced,
}

impl SessionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Revoked => "revoked",
            Self::Ended => "ended",
            Self::Expired => "expired",
            Self::Removed => "removed",
            Self::Abandoned => "abandoned",
            Self::Replaced => "replaced",
        }
    }

    pub fn parse(s: &str) -> Option<SessionStatus> {
        serde_json::from_value(Value::String(s.to_owned())).ok()
    }
}

/// A session of a user on a client (a browser or device).
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub id: String,
    pub user_id: String,
    pub client_id: String,
    pub status: SessionStatus,
    pub last_active_at: i64,
    pub expire_at: i64,
    pub abandon_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Session {
    pub fn new(id: String, user_id: String, client_id: String, now: i64) -> Session {
        Session {
            id,
            user_id,
            client_id,
            status: SessionStatus::Active,
            last_active_at: now,
            expire_at: now + SESSION_LIFETIME_MS,
            abandon_at: now + SESSION_ABANDON_MS,
            created_at: now,
            updated_at: now,
        }
    }

    /// The status as of `now`: an active session past its expiry is expired.
    pub fn status_at(&self, now: i64) -> SessionStatus {
        match self.status {
            SessionStatus::Active if now >= self.expire_at => SessionStatus::Expired,
            other => other,
        }
    }

    /// Only active, unexpired sessions mint tokens.
    pub fn can_mint(&self, now: i64) -> bool {
        self.status_at(now) == SessionStatus::Active
    }

    pub fn to_json(&self, now: i64) -> SessionJson {
        SessionJson {
            object: "session".into(),
            id: self.id.clone(),
            user_id: self.user_id.clone(),
            client_id: self.client_id.clone(),
            actor: None,
            status: self.status_at(now).as_str().into(),
            last_active_organization_id: None,
            last_active_at: self.last_active_at,
            latest_activity: None,
            expire_at: self.expire_at,
            abandon_at: self.abandon_at,
            updated_at: self.updated_at,
            created_at: self.created_at,
        }
    }
}

/// A named token template (`session.getToken({ template })`).
#[derive(Debug, Clone, PartialEq)]
pub struct JwtTemplate {
    pub id: String,
    pub name: String,
    pub claims: Value,
    pub lifetime: i64,
    pub allowed_clock_skew: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl JwtTemplate {
    pub fn to_json(&self) -> JwtTemplateJson {
        JwtTemplateJson {
            object: "jwt_template".into(),
            id: self.id.clone(),
            name: self.name.clone(),
            claims: self.claims.clone(),
            lifetime: self.lifetime,
            allowed_clock_skew: self.allowed_clock_skew,
            custom_signing_key: false,
            signing_algorithm: "RS256".into(),
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

/// What a browser's `User-Agent` says about it, for the account page's list of devices
/// (`latest_activity`). Roster keeps no history of devices: it describes the device asking.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceActivity {
    pub browser_name: Option<&'static str>,
    pub browser_version: Option<String>,
    pub device_type: Option<&'static str>,
    pub is_mobile: bool,
}

impl DeviceActivity {
    /// Reads the common browsers and platforms; anything else is left unnamed.
    pub fn from_user_agent(user_agent: &str) -> DeviceActivity {
        let version_after = |marker: &str| {
            let start = user_agent.find(marker)? + marker.len();
            let version: String = user_agent[start..]
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            (!version.is_empty()).then_some(version)
        };
        // Order matters: Edge and Opera say Chrome too, and Chrome says Safari.
        let browsers: [(&'static str, &str); 6] = [
            ("Edge", "Edg/"),
            ("Opera", "OPR/"),
            ("Firefox", "Firefox/"),
            ("Chrome", "Chrome/"),
            ("Chrome", "CriOS/"),
            ("Safari", "Version/"),
        ];
        let (browser_name, browser_version) = browsers
            .iter()
            .find(|(name, marker)| {
                user_agent.contains(marker) && (*name != "Safari" || user_agent.contains("Safari/"))
            })
            .map_or((None, None), |(name, marker)| {
                (Some(*name), version_after(marker))
            });
        let platforms: [(&'static str, &str); 6] = [
            ("iPhone", "iPhone"),
            ("iPad", "iPad"),
            ("Android", "Android"),
            ("Windows", "Windows"),
            ("Macintosh", "Macintosh"),
            ("Linux", "Linux"),
        ];
        let device_type = platforms
            .iter()
            .find(|(_, marker)| user_agent.contains(marker))
            .map(|(name, _)| *name);
        DeviceActivity {
            browser_name,
            browser_version,
            device_type,
            is_mobile: ["Mobi", "iPhone", "Android"]
                .iter()
                .any(|m| user_agent.contains(m)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_from_user_agents() {
        let read = DeviceActivity::from_user_agent;
        let mac_chrome = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.85 Safari/537.36";
        assert_eq!(
            read(mac_chrome),
            DeviceActivity {
                browser_name: Some("Chrome"),
                browser_version: Some("131.0.6778.85".into()),
                device_type: Some("Macintosh"),
                is_mobile: false,
            }
        );
        let edge = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.70";
        assert_eq!(
            (read(edge).browser_name, read(edge).device_type),
            (Some("Edge"), Some("Windows"))
        );
        let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
        let device = read(iphone);
        assert_eq!(
            (
                device.browser_name,
                device.browser_version.as_deref(),
                device.device_type,
                device.is_mobile
            ),
            (Some("Safari"), Some("17.5"), Some("iPhone"), true)
        );
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
        assert_eq!(
            (read(firefox).browser_name, read(firefox).device_type),
            (Some("Firefox"), Some("Linux"))
        );
        let android = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36";
        assert_eq!(
            (
                read(android).browser_name,
                read(android).device_type,
                read(android).is_mobile
            ),
            (Some("Chrome"), Some("Android"), true)
        );
        assert_eq!(read("curl/8.5.0"), DeviceActivity::default());
        assert_eq!(read(""), DeviceActivity::default());
        // A marker at the very end, with no version after it.
        assert_eq!(read("x Firefox/").browser_version, None);
    }

    #[test]
    fn statuses_round_trip_and_expire() {
        for s in [
            "active",
            "revoked",
            "ended",
            "expired",
            "removed",
            "abandoned",
            "replaced",
        ] {
            assert_eq!(SessionStatus::parse(s).map(SessionStatus::as_str), Some(s));
        }
        assert_eq!(SessionStatus::parse("pending"), None);
        let session = Session::new("sess_1".into(), "user_1".into(), "client_1".into(), 0);
        assert!(session.can_mint(1));
        assert_eq!(
            session.status_at(SESSION_LIFETIME_MS),
            SessionStatus::Expired
        );
        assert!(!session.can_mint(SESSION_LIFETIME_MS));
        assert_eq!(session.to_json(SESSION_LIFETIME_MS).status, "expired");
    }
}

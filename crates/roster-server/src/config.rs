//! Configuration in layers: defaults, then a TOML file, then `ROSTER_*` environment variables,
//! then command-line flags. Secrets may come from `*_FILE` and never appear in Debug output.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use roster_domain::rate_limit::Limit;

use crate::client_ip::TrustedProxies;
use crate::rate_limit::RateLimits;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:4000";
pub const DEFAULT_DATA_DIR: &str = "./roster-data";

/// A secret that prints as `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Secret(value)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// What the TOML file may set.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub public_url: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub log_format: Option<String>,
    /// Origins allowed to call the Frontend API cross-origin (CORS with credentials).
    pub allowed_origins: Option<Vec<String>>,
    /// Custom session claims, applied (replacing the stored ones) at start.
    pub session_token_claims: Option<toml::Table>,
    /// Frontend sign-in and sign-up attempts per client address, e.g. `30/1m`, or `off`.
    pub auth_rate_limit_per_ip: Option<String>,
    /// Frontend sign-in password attempts (and sign-up attempts) per identifier, e.g. `10/10m`.
    pub auth_rate_limit_per_identifier: Option<String>,
    /// Backend API requests per instance, e.g. `1000/10s`; `off` by default.
    pub bapi_rate_limit: Option<String>,
    /// Proxies (addresses or CIDR blocks) whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Option<Vec<String>>,
}

/// The layers above the file, as given by environment or flags (clap merges those two).
#[derive(Debug, Default)]
pub struct Overrides {
    pub allowed_origins: Option<Vec<String>>,
    pub listen: Option<String>,
    pub public_url: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub secret_key: Option<String>,
    pub secret_key_file: Option<PathBuf>,
    pub log_format: Option<String>,
    pub auth_rate_limit_per_ip: Option<String>,
    pub auth_rate_limit_per_identifier: Option<String>,
    pub bapi_rate_limit: Option<String>,
    pub trusted_proxies: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// The URL clients reach this server at (behind a proxy, say); defaults to the listen address.
    pub public_url: Option<String>,
    pub data_dir: PathBuf,
    pub database_url: String,
    /// A secret key made valid for the instance (for scripted setups and tests).
    pub secret_key: Option<Secret>,
    pub log_format: LogFormat,
    /// Origins allowed to call the Frontend API from another origin.
    pub allowed_origins: Vec<String>,
    /// Custom session claims from the config file, as JSON.
    pub session_token_claims: Option<serde_json::Value>,
    /// Brute-force and abuse limits (see docs/security.md).
    pub rate_limits: RateLimits,
}

/// A limit from the layers: the override, else the file, else the default.
fn limit_setting(
    name: &str,
    over: Option<String>,
    file: Option<String>,
    default: Option<Limit>,
) -> anyhow::Result<Option<Limit>> {
    match over.or(file) {
        Some(text) => Limit::parse(&text).map_err(|e| anyhow::anyhow!("{name}: {e}")),
        None => Ok(default),
    }
}

impl Config {
    /// Reads the file (if any) and applies the overrides on top.
    pub fn load(file: Option<&Path>, over: Overrides) -> anyhow::Result<Config> {
        let file_config = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    anyhow::anyhow!("cannot read config file {}: {e}", path.display())
                })?;
                toml::from_str::<FileConfig>(&text)
                    .map_err(|e| anyhow::anyhow!("invalid config file {}: {e}", path.display()))?
            }
            None => FileConfig::default(),
        };
        Config::resolve(file_config, over)
    }

    pub fn resolve(file: FileConfig, over: Overrides) -> anyhow::Result<Config> {
        let listen_text = over
            .listen
            .or(file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.into());
        let listen: SocketAddr = listen_text.parse().map_err(|_| {
            anyhow::anyhow!("--listen {listen_text} is not an address like 127.0.0.1:4000")
        })?;
        let data_dir = over
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| DEFAULT_DATA_DIR.into());
        let database_url = over
            .database_url
            .or(file.database_url)
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("roster.db").display()));
        let secret_key = match (over.secret_key, over.secret_key_file) {
            (Some(key), _) => Some(key),
            (None, Some(path)) => Some(
                std::fs::read_to_string(&path)
                    .map_err(|e| {
                        anyhow::anyhow!(
                            "cannot read ROSTER_SECRET_KEY_FILE {}: {e}",
                            path.display()
                        )
                    })?
                    .trim()
                    .to_owned(),
            ),
            (None, None) => None,
        }
        .map(Secret::new);
        let log_format = match over.log_format.or(file.log_format).as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => anyhow::bail!("log format {other} is not one of: text, json"),
        };
        let defaults = RateLimits::default();
        let rate_limits = RateLimits {
            per_ip: limit_setting(
                "auth_rate_limit_per_ip",
                over.auth_rate_limit_per_ip,
                file.auth_rate_limit_per_ip,
                defaults.per_ip,
            )?,
            per_identifier: limit_setting(
                "auth_rate_limit_per_identifier",
                over.auth_rate_limit_per_identifier,
                file.auth_rate_limit_per_identifier,
                defaults.per_identifier,
            )?,
            bapi: limit_setting(
                "bapi_rate_limit",
                over.bapi_rate_limit,
                file.bapi_rate_limit,
                defaults.bapi,
            )?,
            trusted_proxies: TrustedProxies::parse(
                &over
                    .trusted_proxies
                    .or(file.trusted_proxies)
                    .unwrap_or_default(),
            )
            .map_err(|e| anyhow::anyhow!("trusted_proxies: {e}"))?,
        };
        Ok(Config {
            rate_limits,
            listen,
            public_url: over.public_url.or(file.public_url),
            data_dir,
            database_url,
            secret_key,
            log_format,
            allowed_origins: over
                .allowed_origins
                .or(file.allowed_origins)
                .unwrap_or_default()
                .into_iter()
                .map(|o| o.trim().trim_end_matches('/').to_owned())
                .filter(|o| !o.is_empty())
                .collect(),
            session_token_claims: file
                .session_token_claims
                .map(serde_json::to_value)
                .transpose()
                .map_err(|e| anyhow::anyhow!("session_token_claims: {e}"))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() -> anyhow::Result<()> {
        let c = Config::resolve(FileConfig::default(), Overrides::default())?;
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(c.database_url, "sqlite://./roster-data/roster.db");
        Ok(())
    }

    #[test]
    fn overrides_beat_the_file() -> anyhow::Result<()> {
        let file: FileConfig =
            toml::from_str("listen = \"127.0.0.1:5000\"\ndata_dir = \"/tmp/x\"")?;
        let c = Config::resolve(
            file,
            Overrides {
                listen: Some("127.0.0.1:6000".into()),
                ..Overrides::default()
            },
        )?;
        assert_eq!(c.listen.to_string(), "127.0.0.1:6000");
        assert_eq!(c.data_dir, PathBuf::from("/tmp/x"));
        Ok(())
    }

    #[test]
    fn rate_limits_have_safe_defaults_and_layers() -> anyhow::Result<()> {
        let c = Config::resolve(FileConfig::default(), Overrides::default())?;
        assert_eq!(c.rate_limits, RateLimits::default());
        assert_eq!(
            c.rate_limits.bapi, None,
            "the Backend API is not limited by default"
        );
        assert!(
            c.rate_limits.trusted_proxies.is_empty(),
            "X-Forwarded-For is not trusted by default"
        );
        let file: FileConfig = toml::from_str(
            "auth_rate_limit_per_ip = \"off\"\nbapi_rate_limit = \"100/10s\"\ntrusted_proxies = [\"10.0.0.0/8\"]",
        )?;
        let c = Config::resolve(
            file,
            Overrides {
                bapi_rate_limit: Some("50/10s".into()),
                ..Overrides::default()
            },
        )?;
        assert_eq!(c.rate_limits.per_ip, None);
        assert_eq!(
            c.rate_limits.bapi.map(|l| l.to_string()).as_deref(),
            Some("50/10s")
        );
        assert!(!c.rate_limits.trusted_proxies.is_empty());
        let bad = Overrides {
            auth_rate_limit_per_identifier: Some("lots".into()),
            ..Overrides::default()
        };
        assert!(Config::resolve(FileConfig::default(), bad).is_err());
        Ok(())
    }

    #[test]
    fn secrets_do_not_print() {
        let s = Secret::new("sk_test_abc".into());
        assert_eq!(format!("{s:?}"), "Secret(***)");
    }

    #[test]
    fn bad_values_are_reported() {
        assert!(toml::from_str::<FileConfig>("nonsense = 1").is_err());
        let over = Overrides {
            listen: Some("nope".into()),
            ..Overrides::default()
        };
        assert!(Config::resolve(FileConfig::default(), over).is_err());
    }
}

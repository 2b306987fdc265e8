//! Configuration in layers: defaults, then a TOML file, then `ROSTER_*` environment variables,
//! then command-line flags. Secrets may come from `*_FILE` and never appear in Debug output.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

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
        Ok(Config {
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

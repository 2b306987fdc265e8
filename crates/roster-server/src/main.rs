//! `roster`: run the server, mint keys, apply migrations.

use std::path::PathBuf;
use std::process::ExitCode;

use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use roster_server::config::{Config, LogFormat, Overrides};

/// mimalloc instead of glibc's malloc: allocation is a visible share of every request (parsing,
/// JSON, SQLite), and glibc's per-thread arenas kept growing under the mixed soak.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "roster",
    version,
    about = "Self-hosted user management with Clerk-compatible Backend API and three metadata tiers",
    long_about = "Roster serves Clerk's Backend API for users and their public, private and unsafe \
                  metadata. Start it with `roster serve`: on an empty directory it creates an \
                  embedded SQLite database, an instance and a secret key, and prints them.\n\n\
                  Settings come from defaults, then a TOML file (--config), then ROSTER_* \
                  environment variables, then flags."
)]
struct Cli {
    /// TOML configuration file (keys: listen, public_url, data_dir, database_url, log_format,
    /// allowed_origins, session_token_claims, auth_rate_limit_per_ip,
    /// auth_rate_limit_per_identifier, bapi_rate_limit, trusted_proxies).
    #[arg(long, global = true, env = "ROSTER_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct StorageArgs {
    /// Directory for the embedded database [default: ./roster-data].
    #[arg(long, env = "ROSTER_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Database URL, e.g. sqlite:///var/lib/roster/roster.db [default: sqlite://DATA_DIR/roster.db].
    #[arg(long, env = "ROSTER_DATABASE_URL")]
    database_url: Option<String>,
}

/// Brute-force and abuse limits (docs/security.md). A limit is `N/WINDOW` (e.g. 30/1m, 10/10m,
/// 1000/10s) or `off`.
#[derive(Args, Clone)]
struct LimitArgs {
    /// Frontend sign-in and sign-up attempts per client address [default: 30/1m].
    #[arg(long, env = "ROSTER_AUTH_RATE_LIMIT_PER_IP")]
    auth_rate_limit_per_ip: Option<String>,
    /// Frontend password attempts per identifier (and sign-ups per identifier) [default: 10/10m].
    #[arg(long, env = "ROSTER_AUTH_RATE_LIMIT_PER_IDENTIFIER")]
    auth_rate_limit_per_identifier: Option<String>,
    /// Backend API requests per instance [default: off].
    #[arg(long, env = "ROSTER_BAPI_RATE_LIMIT")]
    bapi_rate_limit: Option<String>,
    /// Proxies (addresses or CIDR blocks) whose X-Forwarded-For names the client [default: none].
    #[arg(long, env = "ROSTER_TRUSTED_PROXIES", value_delimiter = ',')]
    trusted_proxies: Option<Vec<String>>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve {
        /// Address to listen on [default: 127.0.0.1:4000]. Port 0 picks a free port.
        #[arg(long, env = "ROSTER_LISTEN")]
        listen: Option<String>,
        /// The URL clients reach Roster at, if not the listen address (e.g. behind a proxy).
        #[arg(long, env = "ROSTER_PUBLIC_URL")]
        public_url: Option<String>,
        /// Origins (e.g. http://localhost:3000) allowed to call the Frontend API cross-origin.
        #[arg(long, env = "ROSTER_ALLOWED_ORIGINS", value_delimiter = ',')]
        allowed_origins: Option<Vec<String>>,
        #[command(flatten)]
        storage: StorageArgs,
        /// A secret key to accept for this instance, for scripted setups and tests.
        #[arg(long = "secret-key", env = "ROSTER_SECRET_KEY", hide_env_values = true)]
        secret_key: Option<String>,
        /// File holding the secret key (alternative to ROSTER_SECRET_KEY).
        #[arg(long, env = "ROSTER_SECRET_KEY_FILE")]
        secret_key_file: Option<PathBuf>,
        /// Log format: text or json.
        #[arg(long, env = "ROSTER_LOG_FORMAT")]
        log_format: Option<String>,
        #[command(flatten)]
        limits: Box<LimitArgs>,
    },
    /// Manage secret keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Manage the custom session claims merged into every session token.
    Claims {
        #[command(subcommand)]
        command: ClaimsCommand,
    },
    /// Load synthetic users (names, emails, metadata in every tier) quickly, with a progress bar.
    Seed {
        /// How many users to add.
        #[arg(long, default_value_t = 10_000)]
        users: u64,
        /// Users per transaction.
        #[arg(long, default_value_t = 5_000)]
        batch: usize,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Create the database if needed and apply pending migrations, then exit.
    Migrate {
        #[command(flatten)]
        storage: StorageArgs,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Mint a new secret key for the instance and print it (it is stored only hashed).
    Create {
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Add a new token-signing key and retire the others. Retired keys stay in the JWKS until
    /// the tokens they signed expire; running instances switch within 30 seconds.
    Rotate {
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Print the public key session tokens are signed with now, as PEM: for networkless
    /// verification (CLERK_JWT_KEY, @clerk/backend's jwtKey, Python's jwt_key). It changes when
    /// the keys rotate; the JWKS at /v1/jwks always has every key in use.
    PublicKey {
        #[command(flatten)]
        storage: StorageArgs,
    },
}

#[derive(Subcommand)]
enum ClaimsCommand {
    /// Print the custom session claims template.
    Get {
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Replace the custom session claims template with a JSON object, e.g.
    /// '{"role":"{{user.public_metadata.role}}"}'.
    Set {
        /// The template as JSON.
        claims: String,
        #[command(flatten)]
        storage: StorageArgs,
    },
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

fn storage_config(
    cli_config: Option<&std::path::Path>,
    storage: StorageArgs,
) -> anyhow::Result<Config> {
    Config::load(
        cli_config,
        Overrides {
            data_dir: storage.data_dir,
            database_url: storage.database_url,
            ..Overrides::default()
        },
    )
}

/// The configured store, with its instance and a signing key: on a new database, the key the
/// server will sign with.
async fn store_with_signing_key(
    cli_config: Option<&std::path::Path>,
    storage: StorageArgs,
) -> anyhow::Result<Arc<dyn roster_store::Store>> {
    let config = storage_config(cli_config, storage)?;
    let store = roster_server::open_store(&config).await?;
    let (instance, _) = roster_server::ensure_instance(&store).await?;
    roster_server::signing::Signer::load_or_create(
        Arc::clone(&store),
        &instance.id,
        roster_server::routes::now_ms(),
    )
    .await?;
    Ok(store)
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve {
            listen,
            public_url,
            allowed_origins,
            storage,
            secret_key,
            secret_key_file,
            log_format,
            limits,
        } => {
            let config = Config::load(
                cli.config.as_deref(),
                Overrides {
                    allowed_origins,
                    listen,
                    public_url,
                    data_dir: storage.data_dir,
                    database_url: storage.database_url,
                    secret_key,
                    secret_key_file,
                    log_format,
                    auth_rate_limit_per_ip: limits.auth_rate_limit_per_ip,
                    auth_rate_limit_per_identifier: limits.auth_rate_limit_per_identifier,
                    bapi_rate_limit: limits.bapi_rate_limit,
                    trusted_proxies: limits.trusted_proxies,
                },
            )?;
            init_logging(config.log_format);
            roster_server::serve(config).await
        }
        Command::Keys {
            command: KeysCommand::Create { storage },
        } => {
            let config = storage_config(cli.config.as_deref(), storage)?;
            let store = roster_server::open_store(&config).await?;
            let (instance, _) = roster_server::ensure_instance(&store).await?;
            let key = roster_server::create_secret_key(&store).await?;
            eprintln!(
                "New secret key for {} (shown once, stored hashed):",
                instance.id
            );
            println!("{key}");
            Ok(())
        }
        Command::Keys {
            command: KeysCommand::Rotate { storage },
        } => {
            let store = store_with_signing_key(cli.config.as_deref(), storage).await?;
            let kid =
                roster_server::signing::Signer::rotate(&store, roster_server::routes::now_ms())
                    .await?;
            println!("{kid}");
            eprintln!("New signing key {kid}; the previous keys stay published until their tokens expire.");
            Ok(())
        }
        Command::Keys {
            command: KeysCommand::PublicKey { storage },
        } => {
            let store = store_with_signing_key(cli.config.as_deref(), storage).await?;
            print!(
                "{}",
                roster_server::signing::Signer::public_key_pem(&store).await?
            );
            Ok(())
        }
        Command::Claims { command } => {
            let (storage, new) = match command {
                ClaimsCommand::Get { storage } => (storage, None),
                ClaimsCommand::Set { claims, storage } => (storage, Some(claims)),
            };
            let config = storage_config(cli.config.as_deref(), storage)?;
            let store = roster_server::open_store(&config).await?;
            if let Some(text) = new {
                let claims: serde_json::Value = serde_json::from_str(&text)
                    .map_err(|e| anyhow::anyhow!("claims are not JSON: {e}"))?;
                roster_server::routes::sessions::store_session_claims(&store, &claims)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
            }
            println!(
                "{}",
                store
                    .setting("session_token_claims")
                    .await?
                    .unwrap_or_else(|| "{}".into())
            );
            Ok(())
        }
        Command::Seed {
            users,
            batch,
            storage,
        } => {
            let config = storage_config(cli.config.as_deref(), storage)?;
            let store = roster_server::open_store(&config).await?;
            roster_server::ensure_instance(&store).await?;
            roster_server::seed::seed(store, users, batch.max(1), false).await
        }
        Command::Migrate { storage } => {
            let config = storage_config(cli.config.as_deref(), storage)?;
            roster_server::open_store(&config).await?;
            eprintln!(
                "{}: schema is up to date",
                roster_server::redact_url(&config.database_url)
            );
            Ok(())
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("roster: {e:#}");
            ExitCode::FAILURE
        }
    }
}

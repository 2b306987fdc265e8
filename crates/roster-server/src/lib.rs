//! The `roster` server: configuration, start-up, and the HTTP application serving Clerk's
//! Backend API. Domain rules live in `roster-domain`, storage in `roster-store`; this crate parses
//! requests, calls them, and renders responses.

pub mod app;
pub mod body;
pub mod client_ip;
pub mod config;
pub mod error;
pub mod fapi;
pub mod health;
pub mod json;
pub mod keys;
pub mod listen;
pub mod rate_limit;
pub mod routes;
pub mod seed;
pub mod signing;
pub mod token_cache;

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use base64::Engine;

use roster_store::postgres::PostgresStore;
use roster_store::sqlite::SqliteStore;
use roster_store::{Instance, Store};

use crate::config::Config;

/// Opens the store named by the database URL, creating and migrating it as needed.
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let url = &config.database_url;
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let store = PostgresStore::connect(url)
            .await
            .with_context(|| format!("cannot open PostgreSQL database {}", redact_url(url)))?;
        return Ok(Arc::new(store));
    }
    if let Some(path) = url.strip_prefix("sqlite://") {
        let path = Path::new(path);
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create data directory {}", parent.display()))?;
        }
        let store = SqliteStore::open(path)
            .with_context(|| format!("cannot open SQLite database {}", path.display()))?;
        return Ok(Arc::new(store));
    }
    let scheme = url.split("://").next().unwrap_or(url);
    anyhow::bail!(
        "unsupported database URL scheme `{scheme}`: use sqlite://PATH or postgres://USER@HOST/DB"
    )
}

/// The URL with any password replaced, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// The instance of the database, created on first start.
pub async fn ensure_instance(store: &Arc<dyn Store>) -> anyhow::Result<(Instance, bool)> {
    let now = routes::now_ms();
    let id = roster_domain::ids::new_id("ins", now);
    let frontend_host = format!("{}.roster.localhost$", id.to_lowercase().replace('_', "-"));
    let candidate = Instance {
        publishable_key: format!(
            "pk_test_{}",
            // Clerk strips the base64 padding when it builds keys.
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(frontend_host)
        ),
        id,
        created_at: now,
    };
    let instance = store.instance_or_create(candidate.clone()).await?;
    let created = instance.id == candidate.id;
    Ok((instance, created))
}

/// Mints a secret key for the instance and stores its hash. The key itself is returned once.
pub async fn create_secret_key(store: &Arc<dyn Store>) -> anyhow::Result<String> {
    let key = keys::mint_secret_key();
    store
        .add_secret_key_hash(&hex::encode(keys::hash_key(&key)), routes::now_ms())
        .await?;
    Ok(key)
}

/// Starts serving and prints what a newcomer needs. Runs until the process is stopped.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let store = open_store(&config).await?;
    let (instance, created) = ensure_instance(&store).await?;
    let minted = if created {
        Some(create_secret_key(&store).await?)
    } else {
        None
    };
    if let Some(key) = &config.secret_key {
        store
            .add_secret_key_hash(&hex::encode(keys::hash_key(key.expose())), routes::now_ms())
            .await?;
    }
    let keys = keys::KeyRing::load(Arc::clone(&store)).await?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    let base = format!("http://{addr}");
    let public_url = config
        .public_url
        .as_deref()
        .unwrap_or(&base)
        .trim_end_matches('/');
    let signer =
        signing::Signer::load_or_create(Arc::clone(&store), &instance.id, routes::now_ms()).await?;
    if let Some(claims) = &config.session_token_claims {
        routes::sessions::store_session_claims(&store, claims)
            .await
            .map_err(|e| anyhow::anyhow!("session_token_claims in the config file: {e}"))?;
    }
    let state = app::AppState::new(app::Shared {
        store,
        keys,
        instance: Arc::new(instance.clone()),
        default_image_url: format!("{public_url}{}", app::DEFAULT_AVATAR_PATH).into(),
        signer: Arc::new(signer),
        issuer: format!("{public_url}/fapi").into(),
        oversized_warned: Arc::default(),
        health: Arc::default(),
        session_tokens: Arc::default(),
        rate_limits: Arc::new(config.rate_limits.clone()),
        allowed_origins: Arc::new(config.allowed_origins.clone()),
        password_permits: Arc::new(tokio::sync::Semaphore::new(
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
        )),
    });
    let key_line = match &minted {
        Some(key) => format!("{key}   (shown once; stored hashed)"),
        None if config.secret_key.is_some() => "from ROSTER_SECRET_KEY".to_owned(),
        None => "stored hashed; mint another with `roster keys create`".to_owned(),
    };
    let curl_key = minted.as_deref().unwrap_or("$ROSTER_SECRET_KEY");
    println!("Roster listening on {base}");
    println!("  instance:        {}", instance.id);
    println!("  database:        {}", redact_url(&config.database_url));
    println!(
        "  publishable key: {}",
        fapi::publishable_key(&format!("{public_url}/fapi"))
    );
    println!("  secret key:      {key_line}");
    println!("  try:             curl -H \"Authorization: Bearer {curl_key}\" {base}/v1/users");
    tracing::info!(%addr, instance = %instance.id, "listening");
    // With the peer address: per-IP limits need it (crate::client_ip).
    listen::serve(listener, app::router(state), shutdown_signal()).await?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

//! What the machine itself allows, measured in the same run as the server: the storage engine
//! doing one durable read-modify-write transaction per operation, driven directly, and RSA-2048
//! signing and verification from the library Roster signs with (ring).

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use rand::Rng;
use ring::signature::{self, RsaKeyPair, RsaPublicKeyComponents};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;

/// A document about the size of a user's metadata.
fn doc(n: u64) -> String {
    format!(
        "{{\"n\":{n},\"pad\":\"{}\"}}",
        "x".repeat(900 + (n % 100) as usize)
    )
}

const ROWS: i64 = 1000;

/// SQLite with Roster's settings (WAL, `synchronous=FULL`), one connection, one
/// `BEGIN IMMEDIATE; SELECT; UPDATE; COMMIT` per operation. SQLite has one writer at a time, so
/// one connection is its ceiling for one transaction per write.
pub fn sqlite_rmw(dir: &Path, duration: Duration) -> anyhow::Result<f64> {
    let path = dir.join("ceiling.db");
    let conn = rusqlite::Connection::open(&path)?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         CREATE TABLE IF NOT EXISTS ceiling (id INTEGER PRIMARY KEY, doc TEXT NOT NULL);",
    )?;
    {
        let mut insert =
            conn.prepare("INSERT OR REPLACE INTO ceiling (id, doc) VALUES (?1, ?2)")?;
        conn.execute_batch("BEGIN")?;
        for id in 0..ROWS {
            insert.execute(rusqlite::params![id, doc(id as u64)])?;
        }
        conn.execute_batch("COMMIT")?;
    }
    let mut rng = rand::thread_rng();
    let started = Instant::now();
    let mut ops = 0u64;
    while started.elapsed() < duration {
        let id = rng.gen_range(0..ROWS);
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let current: String = conn
            .prepare_cached("SELECT doc FROM ceiling WHERE id = ?1")?
            .query_row([id], |r| r.get(0))?;
        conn.prepare_cached("UPDATE ceiling SET doc = ?2 WHERE id = ?1")?
            .execute(rusqlite::params![id, doc(current.len() as u64 + ops)])?;
        conn.execute_batch("COMMIT")?;
        ops += 1;
    }
    let rate = ops as f64 / started.elapsed().as_secs_f64();
    drop(conn);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(dir.join(format!("ceiling.db{suffix}")));
    }
    Ok(rate)
}

/// PostgreSQL: `connections` sessions, each doing `BEGIN; SELECT … FOR UPDATE; UPDATE; COMMIT`
/// on random rows, with the cluster's own durability settings.
pub async fn postgres_rmw(
    url: &str,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<f64> {
    let (setup, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .context("connecting to PostgreSQL")?;
    tokio::spawn(conn);
    setup
        .batch_execute(
            "DROP TABLE IF EXISTS bench_ceiling;
             CREATE TABLE bench_ceiling (id BIGINT PRIMARY KEY, doc TEXT NOT NULL);",
        )
        .await?;
    for id in 0..ROWS {
        setup
            .execute(
                "INSERT INTO bench_ceiling (id, doc) VALUES ($1, $2)",
                &[&id, &doc(id as u64)],
            )
            .await?;
    }
    let ops = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let ops = Arc::clone(&ops);
        let url = url.to_owned();
        tasks.push(tokio::spawn(async move {
            let (mut client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
            tokio::spawn(conn);
            let select = client
                .prepare("SELECT doc FROM bench_ceiling WHERE id = $1 FOR UPDATE")
                .await?;
            let update = client
                .prepare("UPDATE bench_ceiling SET doc = $2 WHERE id = $1")
                .await?;
            while started.elapsed() < duration {
                let id: i64 = rand::thread_rng().gen_range(0..ROWS);
                let tx = client.transaction().await?;
                let row = tx.query_one(&select, &[&id]).await?;
                let current: String = row.get(0);
                tx.execute(&update, &[&id, &doc(current.len() as u64)])
                    .await?;
                tx.commit().await?;
                ops.fetch_add(1, Ordering::Relaxed);
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let rate = ops.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    setup.batch_execute("DROP TABLE bench_ceiling").await?;
    Ok(rate)
}

/// RSA-2048 PKCS#1 v1.5 SHA-256 signatures and verifications per second on one core, with a key
/// parsed once (the best the library can do).
pub struct Crypto {
    pub signs_per_core: f64,
    pub verifies_per_core: f64,
}

pub fn crypto(duration: Duration) -> anyhow::Result<Crypto> {
    let mut rng = rand::thread_rng();
    let private = rsa::RsaPrivateKey::new(&mut rng, 2048)?;
    let public = RsaPublicKeyComponents {
        n: private.n().to_bytes_be(),
        e: private.e().to_bytes_be(),
    };
    let key = RsaKeyPair::from_der(private.to_pkcs1_der()?.as_bytes())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    // About the size of a session token's signing input.
    let message = vec![b'a'; 420];
    let random = ring::rand::SystemRandom::new();
    let mut sig = vec![0; key.public().modulus_len()];
    let started = Instant::now();
    let mut signs = 0u64;
    while started.elapsed() < duration {
        key.sign(&signature::RSA_PKCS1_SHA256, &random, &message, &mut sig)
            .map_err(|_| anyhow::anyhow!("signing failed"))?;
        signs += 1;
    }
    let signs_per_core = signs as f64 / started.elapsed().as_secs_f64();
    let started = Instant::now();
    let mut verifies = 0u64;
    while started.elapsed() < duration {
        public
            .verify(&signature::RSA_PKCS1_2048_8192_SHA256, &message, &sig)
            .map_err(|_| anyhow::anyhow!("verification failed"))?;
        verifies += 1;
    }
    let verifies_per_core = verifies as f64 / started.elapsed().as_secs_f64();
    Ok(Crypto {
        signs_per_core,
        verifies_per_core,
    })
}

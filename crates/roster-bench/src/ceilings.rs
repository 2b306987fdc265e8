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

/// RSA-2048 PKCS#1 v1.5 SHA-256 signatures and verifications per second per core, with a key
/// parsed once (the best the library can do). Each is measured just before the run it is the
/// ceiling of: on a shared virtual machine the speed of a core drifts by a fifth within minutes.
pub struct Crypto {
    /// Per core while every core signs: the most a server minting on all cores could reach.
    pub signs_per_core: f64,
    /// One thread signing on an otherwise idle machine, for comparison.
    pub signs_one_core: f64,
    /// One thread verifying (the SDK run is one thread).
    pub verifies_per_core: f64,
}

/// A fresh key and a message about the size of a session token's signing input.
fn rsa_key() -> anyhow::Result<(RsaKeyPair, RsaPublicKeyComponents<Vec<u8>>, Vec<u8>)> {
    let private = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048)?;
    let public = RsaPublicKeyComponents {
        n: private.n().to_bytes_be(),
        e: private.e().to_bytes_be(),
    };
    let key = RsaKeyPair::from_der(private.to_pkcs1_der()?.as_bytes())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((key, public, vec![b'a'; 420]))
}

/// How many times `op` runs per second, for `duration`.
fn per_second(
    duration: Duration,
    mut op: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<f64> {
    let started = Instant::now();
    let mut done = 0u64;
    while started.elapsed() < duration {
        op()?;
        done += 1;
    }
    Ok(done as f64 / started.elapsed().as_secs_f64())
}

/// Signatures per second on `threads` threads at once, per thread.
fn signs_per_thread(
    key: &RsaKeyPair,
    message: &[u8],
    threads: usize,
    duration: Duration,
) -> anyhow::Result<f64> {
    let rates = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let random = ring::rand::SystemRandom::new();
                    let mut sig = vec![0; key.public().modulus_len()];
                    per_second(duration, || {
                        key.sign(&signature::RSA_PKCS1_SHA256, &random, message, &mut sig)
                            .map_err(|_| anyhow::anyhow!("signing failed"))
                    })
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .map_err(|_| anyhow::anyhow!("a signing thread panicked"))?
            })
            .collect::<anyhow::Result<Vec<f64>>>()
    })?;
    Ok(rates.iter().sum::<f64>() / threads as f64)
}

/// Signatures per second per core with every core signing, and with one thread alone.
pub fn signs(duration: Duration) -> anyhow::Result<(f64, f64)> {
    let (key, _, message) = rsa_key()?;
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let all = signs_per_thread(&key, &message, cores, duration)?;
    let one = signs_per_thread(&key, &message, 1, duration)?;
    Ok((all, one))
}

pub fn verifies_per_core(duration: Duration) -> anyhow::Result<f64> {
    let (key, public, message) = rsa_key()?;
    let random = ring::rand::SystemRandom::new();
    let mut sig = vec![0; key.public().modulus_len()];
    key.sign(&signature::RSA_PKCS1_SHA256, &random, &message, &mut sig)
        .map_err(|_| anyhow::anyhow!("signing failed"))?;
    per_second(duration, || {
        public
            .verify(&signature::RSA_PKCS1_2048_8192_SHA256, &message, &sig)
            .map_err(|_| anyhow::anyhow!("verification failed"))
    })
}

//! The load generator: a fixed number of keep-alive HTTP/1.1 connections over loopback, each
//! sending one request at a time, for a bounded time.
//!
//! Closed loop (`rate: None`): each connection sends its next request as soon as the last answer
//! is in, which finds the peak throughput. Open loop (`rate: Some(r)`): requests are due at a fixed
//! total rate, and latency counts from when a request was *due*, not when it was sent, so a server
//! that falls behind shows its queue in the percentiles instead of hiding it. (When the connection
//! was free at the due time, latency counts from the actual send: the gap is the generator's timer.)

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use rand::rngs::StdRng;
use rand::SeedableRng;
use tokio::net::TcpStream;

/// Builds the next request; gets a per-connection random source to pick users with.
pub type MakeRequest = Arc<dyn Fn(&mut StdRng) -> Request<Full<Bytes>> + Send + Sync>;

/// What one run measured. Latencies are in microseconds.
pub struct LoadResult {
    pub requests: u64,
    /// Answers that were not 2xx.
    pub failures: u64,
    /// Answers with a 5xx status (a subset of `failures`).
    pub server_errors: u64,
    /// The first failing answer, for the report.
    pub first_failure: Option<String>,
    pub elapsed: Duration,
    pub latency_us: Histogram<u64>,
}

impl LoadResult {
    fn empty() -> anyhow::Result<LoadResult> {
        Ok(LoadResult {
            requests: 0,
            failures: 0,
            server_errors: 0,
            first_failure: None,
            elapsed: Duration::ZERO,
            latency_us: histogram()?,
        })
    }

    pub fn per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The latency at quantile `q` (0.5, 0.99, …) in milliseconds.
    pub fn ms(&self, q: f64) -> f64 {
        self.latency_us.value_at_quantile(q) as f64 / 1000.0
    }
}

fn histogram() -> anyhow::Result<Histogram<u64>> {
    // 1 µs to 60 s, three significant digits.
    Histogram::new_with_bounds(1, 60_000_000, 3).context("histogram bounds")
}

/// Drives `addr` with `connections` connections for `duration`, closed loop or at `rate`
/// requests per second in total.
pub async fn run(
    addr: SocketAddr,
    connections: usize,
    duration: Duration,
    rate: Option<f64>,
    make: MakeRequest,
) -> anyhow::Result<LoadResult> {
    let start = Instant::now();
    let deadline = start + duration;
    let workers: Vec<_> = (0..connections)
        .map(|i| {
            let make = Arc::clone(&make);
            // Each connection takes an equal share of the rate, its schedule offset so that the
            // arrivals interleave evenly.
            let interval = rate.map(|r| Duration::from_secs_f64(connections as f64 / r.max(1e-3)));
            let offset = interval.map(|iv| iv.mul_f64(i as f64 / connections as f64));
            tokio::spawn(async move {
                worker(addr, start, deadline, interval, offset, i as u64, make).await
            })
        })
        .collect();
    let mut total = LoadResult::empty()?;
    for w in workers {
        let part = w.await.context("load worker panicked")??;
        total.requests += part.requests;
        total.failures += part.failures;
        total.server_errors += part.server_errors;
        total.first_failure = total.first_failure.or(part.first_failure);
        total.elapsed = total.elapsed.max(part.elapsed);
        total
            .latency_us
            .add(&part.latency_us)
            .context("merging histograms")?;
    }
    Ok(total)
}

async fn worker(
    addr: SocketAddr,
    start: Instant,
    deadline: Instant,
    interval: Option<Duration>,
    offset: Option<Duration>,
    seed: u64,
    make: MakeRequest,
) -> anyhow::Result<LoadResult> {
    let stream = TcpStream::connect(addr).await.context("connecting")?;
    stream.set_nodelay(true)?;
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed);
    let mut out = LoadResult::empty()?;
    let mut k: u32 = 0;
    let mut free_at = start;
    loop {
        let due = match (interval, offset) {
            (Some(iv), Some(off)) => start + off + iv * k,
            _ => Instant::now(),
        };
        if due >= deadline {
            break;
        }
        if interval.is_some() {
            // (Closed loop never sleeps: even a sleep until now waits for the timer's next tick.)
            tokio::time::sleep_until(due.into()).await;
        }
        // If the last answer came after this request was due, the server kept it waiting, and
        // that wait counts. Otherwise the server could have taken it on time, and what lies
        // between `due` and now is the generator's own timer (tokio's is millisecond-grained),
        // which is not the server's latency.
        let from = if free_at > due { due } else { Instant::now() };
        let request = make(&mut rng);
        send.ready().await.context("connection closed")?;
        let response = send.send_request(request).await.context("request failed")?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        free_at = Instant::now();
        let took = free_at - from;
        out.latency_us
            .record((took.as_micros() as u64).max(1))
            .context("recording latency")?;
        out.requests += 1;
        if !status.is_success() {
            out.failures += 1;
            if status.is_server_error() {
                out.server_errors += 1;
            }
            if out.first_failure.is_none() {
                out.first_failure = Some(format!(
                    "{status}: {}",
                    String::from_utf8_lossy(&body[..body.len().min(300)])
                ));
            }
        }
        k += 1;
    }
    out.elapsed = start.elapsed();
    Ok(out)
}

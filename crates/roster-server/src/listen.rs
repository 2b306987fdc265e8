//! The accept loop: what `axum::serve` does, plus the deadline it leaves out. Without a timer,
//! hyper lets a client that connects and then sends its headers slowly, or not at all, keep its
//! socket for as long as it likes; enough such clients use up the file descriptors and the
//! server accepts nobody (a "slowloris"). Bodies have their own deadline (`body::read_limited`),
//! and connections are capped below the open-file limit, so that a flood of them leaves the
//! database its descriptors: past the cap, connections wait to be accepted.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceExt;

/// How long a client has to send a request's headers, from when the connection is ready to
/// read one (it opened, or the previous response went out); an idle keep-alive connection is
/// closed after as long.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves `app` on `listener` until `shutdown` completes, then lets the requests in flight
/// finish. Handlers see the peer address as `ConnectInfo<SocketAddr>` (per-IP limits need it).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    // Each connection holds a receiver; the sender learns when the last one is gone.
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(max_connections()));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // At the cap, new connections wait in the kernel's backlog: the descriptors the
        // database and the open connections need are never taken.
        let permit = tokio::select! {
            permit = std::sync::Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, say: wait rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let stopping = stopping.clone();
        let app = app.clone();
        tokio::spawn(async move {
            connection(stream, peer, app, stopping).await;
            drop(permit);
        });
    }
    drop(listener);
    drop(stopping);
    // Receivers only see a change; nobody listens for the result.
    let _ = stop.send(true);
    stop.closed().await;
    Ok(())
}

/// Connections served at once: the process's limit on open files less a reserve for the
/// database, logs and the listener (Linux reads it from `/proc/self/limits`; elsewhere, or if
/// that fails, 4096).
fn max_connections() -> usize {
    const RESERVE: usize = 256;
    let soft_limit = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| {
            let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
            let soft = line
                .trim_start_matches("Max open files")
                .split_whitespace()
                .next()?;
            Some(soft.parse::<usize>().unwrap_or(usize::MAX))
        })
        .unwrap_or(4096 + RESERVE);
    soft_limit.saturating_sub(RESERVE).clamp(64, 1 << 20)
}

async fn connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    app: Router,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) {
    let service = app.map_request(move |mut req: axum::extract::Request<_>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        req
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
        .with_upgrades();
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        // A failed connection (the client went away, a deadline passed) concerns nobody else.
        _ = conn.as_mut() => return,
        _ = stopping.changed() => conn.as_mut().graceful_shutdown(),
    }
    let _ = conn.await;
}

//! The address a request comes from, for per-IP limits: the socket peer, unless the peer is one
//! of the configured trusted proxies, in which case `X-Forwarded-For` is read from the right
//! (the hop nearest to us) and the first address that is not a trusted proxy is the client.
//! Nothing a client sends is believed by default: without `trusted_proxies`, the header is
//! ignored, because anyone can write one.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::HeaderMap;

use crate::app::AppState;
use crate::error::ApiError;

/// An address or a CIDR block, e.g. `10.0.0.0/8`, `fd00::/8`, `127.0.0.1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    network: IpAddr,
    prefix: u8,
}

impl IpRange {
    pub fn parse(text: &str) -> Result<IpRange, String> {
        let text = text.trim();
        let bad =
            || format!("trusted proxy `{text}` is not an address or a CIDR block like 10.0.0.0/8");
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let network: IpAddr = addr.parse().map_err(|_| bad())?;
        let network = network.to_canonical();
        let width = match network {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        let prefix = match prefix {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= width)
                .ok_or_else(bad)?,
            None => width,
        };
        Ok(IpRange { network, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl fmt::Display for IpRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// The proxies whose `X-Forwarded-For` is believed. Empty by default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpRange>);

impl TrustedProxies {
    pub fn parse<S: AsRef<str>>(list: &[S]) -> Result<TrustedProxies, String> {
        list.iter()
            .map(|s| s.as_ref().trim())
            .filter(|s| !s.is_empty())
            .map(IpRange::parse)
            .collect::<Result<Vec<_>, _>>()
            .map(TrustedProxies)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|r| r.contains(ip))
    }

    /// The client of a request that arrived from `peer` with these headers.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.trusts(peer) {
            return peer;
        }
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        let mut nearest = peer;
        for hop in hops.iter().rev() {
            // A hop that is not an address was not written by a proxy we trust: stop at the
            // last address we could vouch for rather than guess.
            let Some(ip) = parse_hop(hop) else {
                return nearest;
            };
            if !self.trusts(ip) {
                return ip;
            }
            nearest = ip;
        }
        nearest
    }
}

/// An `X-Forwarded-For` entry: an address, possibly with a port (`1.2.3.4:5678`, `[::1]:80`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .map(|ip| ip.to_canonical())
}

/// The client address of the request, as [`TrustedProxies::client_ip`] resolves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        // Served by `roster serve`, every request has its peer; a router driven without one
        // (an in-process test) counts all its requests under 0.0.0.0.
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
        Ok(ClientIp(
            state
                .rate_limits
                .trusted_proxies
                .client_ip(peer, &parts.headers),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    }

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            if let Ok(v) = v.parse() {
                h.append("x-forwarded-for", v);
            }
        }
        h
    }

    #[test]
    fn ranges() -> Result<(), String> {
        let r = IpRange::parse("10.0.0.0/8")?;
        assert!(r.contains(ip("10.200.3.4")));
        assert!(r.contains(ip("::ffff:10.1.1.1")));
        assert!(!r.contains(ip("11.0.0.1")));
        assert!(IpRange::parse("127.0.0.1")?.contains(ip("127.0.0.1")));
        assert!(!IpRange::parse("127.0.0.1")?.contains(ip("127.0.0.2")));
        assert!(IpRange::parse("0.0.0.0/0")?.contains(ip("8.8.8.8")));
        assert!(IpRange::parse("fd00::/8")?.contains(ip("fd12::1")));
        assert!(!IpRange::parse("fd00::/8")?.contains(ip("10.0.0.1")));
        for bad in ["", "10.0.0.0/33", "nope", "10.0.0.0/x", "::/129"] {
            assert!(IpRange::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(IpRange::parse("10.0.0.0/8")?.to_string(), "10.0.0.0/8");
        Ok(())
    }

    #[test]
    fn the_header_is_ignored_unless_the_peer_is_trusted() -> Result<(), String> {
        let none = TrustedProxies::default();
        let spoofed = headers(&["6.6.6.6"]);
        assert_eq!(
            none.client_ip(ip("203.0.113.9"), &spoofed),
            ip("203.0.113.9")
        );
        let proxies = TrustedProxies::parse(&["10.0.0.0/8"])?;
        assert_eq!(
            proxies.client_ip(ip("203.0.113.9"), &spoofed),
            ip("203.0.113.9"),
            "a direct client cannot name another address"
        );
        Ok(())
    }

    #[test]
    fn the_nearest_untrusted_hop_is_the_client() -> Result<(), String> {
        let proxies = TrustedProxies::parse(&["10.0.0.0/8", "127.0.0.1"])?;
        let peer = ip("10.0.0.2");
        // The client prepended a fake; the proxies appended what they saw.
        let h = headers(&["6.6.6.6, 198.51.100.4", "10.0.0.7"]);
        assert_eq!(proxies.client_ip(peer, &h), ip("198.51.100.4"));
        assert_eq!(
            proxies.client_ip(peer, &headers(&["198.51.100.4:5123"])),
            ip("198.51.100.4")
        );
        assert_eq!(
            proxies.client_ip(peer, &headers(&["[2001:db8::1]:443"])),
            ip("2001:db8::1")
        );
        // Every hop a proxy: the farthest is the best we know; no header: the peer.
        assert_eq!(
            proxies.client_ip(peer, &headers(&["10.1.1.1"])),
            ip("10.1.1.1")
        );
        assert_eq!(proxies.client_ip(peer, &HeaderMap::new()), peer);
        // Garbage stops the walk at the last trusted hop.
        assert_eq!(
            proxies.client_ip(peer, &headers(&["198.51.100.4, garbage, 10.0.0.9"])),
            ip("10.0.0.9")
        );
        Ok(())
    }
}

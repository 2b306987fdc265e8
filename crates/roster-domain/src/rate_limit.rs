//! Rate limits: how many attempts a key (an IP address, an identifier, an instance) may make per
//! window, judged with a sliding-window counter.
//!
//! Stores count hits per key in fixed windows aligned to multiples of the window length; the
//! verdict weighs the previous window's count by how much of it still overlaps the last window
//! length (`previous × (W − elapsed) / W + current`), so a burst straddling a window boundary
//! cannot get twice the limit through, as it could with plain fixed windows. Denied attempts are
//! counted too: a client that keeps hammering stays blocked, one that waits `Retry-After` gets in.
//!
//! Everything here is arithmetic on counts and times; storage only increments and reads counters
//! (`roster_store::Store::hit_rate_limit`), and HTTP only renders the verdict.

use std::fmt;
use std::net::IpAddr;

/// At most `max` attempts per `window_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub max: u32,
    pub window_ms: i64,
}

/// One attempt to count against `key`: the window it falls in, the window before (read for the
/// sliding estimate), and when the row may be swept (once it can no longer be a previous window).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitHit {
    pub key: String,
    pub window_start: i64,
    pub previous_window_start: i64,
    pub expires_at: i64,
    /// The time of the attempt; rows that expired before it may be swept.
    pub now: i64,
}

/// What a store reports after counting a hit: the attempts in the current window (this one
/// included) and in the window before.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WindowCounts {
    pub current: i64,
    pub previous: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// Refused; the next attempt would be allowed after this many seconds (at least 1), if none
    /// is made in between.
    Limited {
        retry_after_s: i64,
    },
}

impl Limit {
    /// Parses `N/WINDOW`, e.g. `30/1m`, `10/10m`, `1000/10s`, `5/1h` (a bare unit means one of
    /// it: `30/m`). `off` (or `none`) disables the limit: `Ok(None)`.
    pub fn parse(text: &str) -> Result<Option<Limit>, String> {
        let text = text.trim();
        if matches!(text.to_ascii_lowercase().as_str(), "off" | "none") {
            return Ok(None);
        }
        let bad = || format!("rate limit `{text}` is not like 30/1m, 10/10m, 1000/10s or off");
        let (max, window) = text.split_once('/').ok_or_else(bad)?;
        let max: u32 = max.trim().parse().map_err(|_| bad())?;
        if max == 0 {
            return Err(format!(
                "rate limit `{text}` allows nothing; use `off` to disable a limit"
            ));
        }
        let window = window.trim();
        let split = window.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let (count, unit) = window.split_at(split);
        let count: i64 = if count.is_empty() {
            1
        } else {
            count.parse().map_err(|_| bad())?
        };
        let unit_ms = match unit {
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            _ => return Err(bad()),
        };
        let window_ms = count
            .checked_mul(unit_ms)
            .filter(|ms| (1_000..=7 * 86_400_000).contains(ms))
            .ok_or_else(|| format!("rate limit `{text}`: the window must be 1s to 7 days"))?;
        Ok(Some(Limit { max, window_ms }))
    }

    /// The hit to count for an attempt on `key` at `now`.
    pub fn hit(&self, key: String, now: i64) -> RateLimitHit {
        let window_start = now.div_euclid(self.window_ms) * self.window_ms;
        RateLimitHit {
            key,
            window_start,
            previous_window_start: window_start - self.window_ms,
            expires_at: window_start + 2 * self.window_ms,
            now,
        }
    }

    /// Whether the attempt whose hit produced `counts` at `now` may go ahead.
    pub fn judge(&self, counts: WindowCounts, now: i64) -> Verdict {
        let elapsed = now.rem_euclid(self.window_ms);
        if self.within(counts.previous, counts.current, elapsed) {
            return Verdict::Allowed;
        }
        let wait_ms = self.wait_ms(counts, elapsed);
        Verdict::Limited {
            retry_after_s: ((wait_ms + 999) / 1000).max(1),
        }
    }

    /// `previous × (W − elapsed) / W + current ≤ max`, without rounding.
    fn within(&self, previous: i64, current: i64, elapsed: i64) -> bool {
        let w = i128::from(self.window_ms);
        i128::from(previous) * (w - i128::from(elapsed)) + i128::from(current) * w
            <= i128::from(self.max) * w
    }

    /// Milliseconds until one more attempt would be allowed, if none is made meanwhile. The
    /// estimate only falls as time passes (and is continuous across the window boundary), so the
    /// first allowed moment is found in this window or in the next: after that the previous count
    /// is the single retried attempt.
    fn wait_ms(&self, counts: WindowCounts, elapsed: i64) -> i64 {
        let w = i128::from(self.window_ms);
        let max = i128::from(self.max);
        let (previous, current) = (i128::from(counts.previous), i128::from(counts.current));
        let elapsed = i128::from(elapsed);
        // In this window the retry makes `current + 1`: previous × (W − e) ≤ (max − current − 1) × W.
        let room = (max - current - 1) * w;
        if room >= 0 {
            let at = if previous == 0 {
                elapsed
            } else {
                (w - room / previous).max(elapsed)
            };
            if at < w {
                return i64::try_from(at - elapsed).unwrap_or(i64::MAX);
            }
        }
        // In the next one this window's count is the previous: current × (W − e) ≤ (max − 1) × W.
        let at = if current == 0 {
            0
        } else {
            (w - (max - 1) * w / current).max(0)
        };
        i64::try_from(w - elapsed + at).unwrap_or(i64::MAX)
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (count, unit) = match self.window_ms {
            ms if ms % 3_600_000 == 0 => (ms / 3_600_000, "h"),
            ms if ms % 60_000 == 0 => (ms / 60_000, "m"),
            ms => (ms / 1_000, "s"),
        };
        write!(f, "{}/{count}{unit}", self.max)
    }
}

/// What an attempt tries to do; each has its own counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    SignIn,
    SignUp,
    /// A handshake from a browser without a client: each costs an RSA signature.
    Handshake,
}

impl Attempt {
    pub fn as_str(self) -> &'static str {
        match self {
            Attempt::SignIn => "sign_in",
            Attempt::SignUp => "sign_up",
            Attempt::Handshake => "handshake",
        }
    }
}

/// The address a client is counted under: IPv4 as is (IPv4-mapped IPv6 too), IPv6 by its /64,
/// since one subscriber usually holds a whole /64 and could otherwise rotate through it.
pub fn ip_bucket(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let network = u128::from(v6) & !((1u128 << 64) - 1);
                format!("{}/64", std::net::Ipv6Addr::from(network))
            }
        },
    }
}

/// The counter key for attempts from a client address.
pub fn ip_key(attempt: Attempt, ip: IpAddr) -> String {
    format!("ip:{}:{}", ip_bucket(ip), attempt.as_str())
}

/// An identifier as it is counted: the same account however it is typed.
pub fn normalize_identifier(identifier: &str) -> String {
    identifier.trim().to_lowercase()
}

/// The counter key for attempts on an identifier. `digest` is a hash of
/// [`normalize_identifier`]'s result, so the counter table holds no list of tried addresses and
/// an arbitrarily long identifier makes no long key.
pub fn identifier_key(attempt: Attempt, digest: &str) -> String {
    format!("identifier:{digest}:{}", attempt.as_str())
}

/// The counter key for Backend API requests of an instance.
pub fn instance_key(instance_id: &str) -> String {
    format!("bapi:{instance_id}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MINUTE: i64 = 60_000;

    fn limit(max: u32, window_ms: i64) -> Limit {
        Limit { max, window_ms }
    }

    fn counts(previous: i64, current: i64) -> WindowCounts {
        WindowCounts { current, previous }
    }

    #[test]
    fn parses_limits() {
        assert_eq!(Limit::parse("30/1m"), Ok(Some(limit(30, MINUTE))));
        assert_eq!(Limit::parse(" 10 / 10m "), Ok(Some(limit(10, 10 * MINUTE))));
        assert_eq!(Limit::parse("1000/10s"), Ok(Some(limit(1000, 10_000))));
        assert_eq!(Limit::parse("5/h"), Ok(Some(limit(5, 3_600_000))));
        assert_eq!(Limit::parse("off"), Ok(None));
        assert_eq!(Limit::parse("OFF"), Ok(None));
        for bad in [
            "", "30", "30/", "x/1m", "30/1d", "0/1m", "-1/1m", "30/0s", "30/9999h", "30/1m2",
        ] {
            assert!(Limit::parse(bad).is_err(), "{bad}");
        }
        for text in ["30/1m", "10/10m", "1000/10s", "5/1h", "7/90s"] {
            let parsed = Limit::parse(text).ok().flatten();
            assert_eq!(parsed.map(|l| l.to_string()).as_deref(), Some(text));
        }
    }

    #[test]
    fn windows_are_aligned_and_kept_for_two_lengths() {
        let hit = limit(3, MINUTE).hit("k".into(), 5 * MINUTE + 1234);
        assert_eq!(hit.window_start, 5 * MINUTE);
        assert_eq!(hit.previous_window_start, 4 * MINUTE);
        assert_eq!(hit.expires_at, 7 * MINUTE);
        assert_eq!(limit(3, MINUTE).hit("k".into(), -1).window_start, -MINUTE);
    }

    #[test]
    fn the_limit_is_reached_then_refused() {
        let l = limit(3, MINUTE);
        for n in 1..=3 {
            assert_eq!(l.judge(counts(0, n), 10), Verdict::Allowed);
        }
        // Four in this window: the next attempt must wait until, in the next window, enough of
        // this one has faded (half of it: 4 × ½ + 1 ≤ 3).
        assert_eq!(
            l.judge(counts(0, 4), 10_000),
            Verdict::Limited { retry_after_s: 80 }
        );
    }

    #[test]
    fn the_previous_window_fades_out() {
        let l = limit(10, MINUTE);
        // Ten in the previous window: at the start of this one the estimate is still ten, and a
        // retry (the second attempt here) fits once a fifth of the previous count has faded.
        assert_eq!(
            l.judge(counts(10, 1), 0),
            Verdict::Limited { retry_after_s: 12 }
        );
        // A tenth of the window in, a tenth of the previous count has faded: one attempt fits.
        assert_eq!(l.judge(counts(10, 1), 6_000), Verdict::Allowed);
        assert_eq!(
            l.judge(counts(10, 2), 6_000),
            Verdict::Limited { retry_after_s: 12 }
        );
    }

    #[test]
    fn hammering_carries_into_the_next_window() {
        let l = limit(10, MINUTE);
        // 1000 attempts in one window keep the key blocked for almost all of the next.
        match l.judge(counts(0, 1000), 30_000) {
            Verdict::Limited { retry_after_s } => {
                assert!(
                    (30 + 59..=30 + 60).contains(&retry_after_s),
                    "{retry_after_s}"
                )
            }
            Verdict::Allowed => panic!("allowed"),
        }
    }

    #[test]
    fn ipv6_clients_count_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1"
            .parse()
            .unwrap_or(IpAddr::from([0; 4]));
        let b: IpAddr = "2001:db8:1:2:bbbb::9"
            .parse()
            .unwrap_or(IpAddr::from([0; 4]));
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap_or(IpAddr::from([0; 4]));
        assert_eq!(ip_bucket(a), "2001:db8:1:2::/64");
        assert_eq!(ip_bucket(a), ip_bucket(b));
        assert_ne!(ip_bucket(a), ip_bucket(c));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap_or(IpAddr::from([0; 4]));
        assert_eq!(ip_bucket(mapped), "192.0.2.7");
        assert_eq!(
            ip_key(Attempt::SignIn, IpAddr::from([127, 0, 0, 1])),
            "ip:127.0.0.1:sign_in"
        );
        assert_eq!(
            identifier_key(Attempt::SignUp, "ab12"),
            "identifier:ab12:sign_up"
        );
        assert_eq!(
            normalize_identifier("  Grace@Example.COM "),
            "grace@example.com"
        );
    }

    /// The state after a retry at `now + wait` with no hits in between: one more in that window.
    fn after_retry(l: Limit, c: WindowCounts, now: i64, wait_ms: i64) -> (WindowCounts, i64) {
        let then = now + wait_ms;
        let (window, later) = (now.div_euclid(l.window_ms), then.div_euclid(l.window_ms));
        let next = match later - window {
            0 => counts(c.previous, c.current + 1),
            1 => counts(c.current, 1),
            _ => counts(0, 1),
        };
        (next, then)
    }

    proptest! {
        /// Waiting `Retry-After` gets the next attempt in, and it is the earliest whole second that
        /// does.
        #[test]
        fn retry_after_is_the_first_second_that_works(
            max in 1u32..50,
            window_s in 1i64..600,
            previous in 0i64..200,
            current in 1i64..200,
            at in 0i64..1_000_000,
        ) {
            let l = limit(max, window_s * 1000);
            let c = counts(previous, current);
            let now = 1_700_000_000_000 + at;
            if let Verdict::Limited { retry_after_s } = l.judge(c, now) {
                prop_assert!(retry_after_s >= 1);
                prop_assert!(retry_after_s <= 2 * window_s);
                let (next, then) = after_retry(l, c, now, retry_after_s * 1000);
                prop_assert_eq!(l.judge(next, then), Verdict::Allowed);
                if retry_after_s > 1 {
                    let (early, then) = after_retry(l, c, now, (retry_after_s - 1) * 1000);
                    prop_assert_ne!(l.judge(early, then), Verdict::Allowed);
                }
            }
        }

        /// A steady client that never exceeds `max` per window is never refused.
        #[test]
        fn under_the_limit_is_always_allowed(
            max in 1u32..50,
            window_s in 1i64..600,
            current in 1i64..50,
            at in 0i64..1_000_000,
        ) {
            let l = limit(max, window_s * 1000);
            prop_assume!(current <= i64::from(max));
            prop_assert_eq!(l.judge(counts(0, current), at), Verdict::Allowed);
        }
    }
}

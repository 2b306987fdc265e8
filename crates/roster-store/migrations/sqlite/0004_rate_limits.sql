-- Rate-limit counters: attempts per key (e.g. `ip:203.0.113.7:sign_in`) in fixed windows aligned
-- to multiples of the window length; see roster_domain::rate_limit. A row is kept until
-- `expires_at` (two window lengths after its start, while it can still be a previous window),
-- then swept by later hits.
CREATE TABLE rate_limit_hits (
    key TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    hits INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (key, window_start)
);
CREATE INDEX rate_limit_hits_expires_at ON rate_limit_hits (expires_at);

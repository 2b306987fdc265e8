-- Rate-limit counters: attempts per key (e.g. `ip:203.0.113.7:sign_in`) in fixed windows aligned
-- to multiples of the window length; see roster_domain::rate_limit. A row is kept until
-- `expires_at` (two window lengths after its start, while it can still be a previous window),
-- then swept by later hits.
--
-- UNLOGGED: every sign-in attempt writes here, and counters need no crash safety or replicas
-- (a crash or failover empties the table, which only forgives the attempts of the last minutes).
CREATE UNLOGGED TABLE rate_limit_hits (
    key TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    hits BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (key, window_start)
);
CREATE INDEX rate_limit_hits_expires_at ON rate_limit_hits (expires_at);

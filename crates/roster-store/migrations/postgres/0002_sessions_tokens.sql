-- RSA signing keys (PKCS#1 DER). Retired keys stay published until the tokens they signed expire.
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    private_key BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    retired_at BIGINT,
    max_exp BIGINT NOT NULL DEFAULT 0
);

-- Instance settings, e.g. the custom session claims template.
CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    status TEXT NOT NULL,
    last_active_at BIGINT NOT NULL,
    expire_at BIGINT NOT NULL,
    abandon_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX sessions_user_id ON sessions (user_id, created_at);
CREATE INDEX sessions_client_id ON sessions (client_id, created_at);

CREATE TABLE jwt_templates (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    claims TEXT NOT NULL,
    lifetime BIGINT NOT NULL,
    allowed_clock_skew BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

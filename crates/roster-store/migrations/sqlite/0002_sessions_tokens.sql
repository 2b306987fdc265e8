-- RSA signing keys (PKCS#1 DER). Retired keys stay published until the tokens they signed expire.
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    private_key BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    retired_at INTEGER,
    max_exp INTEGER NOT NULL DEFAULT 0
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
    last_active_at INTEGER NOT NULL,
    expire_at INTEGER NOT NULL,
    abandon_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX sessions_user_id ON sessions (user_id, created_at);
CREATE INDEX sessions_client_id ON sessions (client_id, created_at);

CREATE TABLE jwt_templates (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    claims TEXT NOT NULL,
    lifetime INTEGER NOT NULL,
    allowed_clock_skew INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE instance (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    id TEXT NOT NULL,
    publishable_key TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE secret_keys (
    hash TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL
);

-- The user document is `doc` (JSON of roster_domain::User); the other columns are copies of its
-- fields that lists filter or order by.
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    external_id TEXT UNIQUE,
    username TEXT UNIQUE,
    first_name TEXT,
    last_name TEXT,
    primary_email TEXT,
    primary_phone TEXT,
    banned INTEGER NOT NULL,
    last_sign_in_at INTEGER,
    last_active_at INTEGER,
    search TEXT NOT NULL,
    name_search TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX users_created_at ON users (created_at, id);
CREATE INDEX users_updated_at ON users (updated_at, id);

-- Email addresses and phone numbers, unique per instance.
CREATE TABLE identifiers (
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (kind, value)
);
CREATE INDEX identifiers_user_id ON identifiers (user_id);

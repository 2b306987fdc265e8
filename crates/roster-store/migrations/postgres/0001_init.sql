CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE instance (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    id TEXT NOT NULL,
    publishable_key TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE secret_keys (
    hash TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL
);

-- The user document is `doc` (JSON text of roster_domain::User, kept byte for byte so metadata
-- keys keep their order); the other columns are copies of its fields that lists filter or order by.
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    external_id TEXT UNIQUE,
    username TEXT UNIQUE,
    first_name TEXT,
    last_name TEXT,
    primary_email TEXT,
    primary_phone TEXT,
    banned BOOLEAN NOT NULL,
    last_sign_in_at BIGINT,
    last_active_at BIGINT,
    search TEXT NOT NULL,
    name_search TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX users_created_at ON users (created_at, id);
CREATE INDEX users_updated_at ON users (updated_at, id);
CREATE INDEX users_search_trgm ON users USING gin (search gin_trgm_ops);
CREATE INDEX users_name_search_trgm ON users USING gin (name_search gin_trgm_ops);
CREATE INDEX users_username_trgm ON users USING gin (username gin_trgm_ops);

CREATE TABLE identifiers (
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (kind, value)
);
CREATE INDEX identifiers_user_id ON identifiers (user_id);
CREATE INDEX identifiers_value_trgm ON identifiers USING gin (value gin_trgm_ops);

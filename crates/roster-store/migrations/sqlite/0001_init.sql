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
-- fields that lists filter or order by. `pk` is a stable integer key for the search index
-- (a plain rowid may change on VACUUM).
CREATE TABLE users (
    pk INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
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
    emails TEXT NOT NULL,
    phones TEXT NOT NULL,
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

-- Substring search: an FTS5 trigram index over the searchable text of each user, kept in step
-- by triggers. Phrase queries of 3+ characters are substring matches served by the index.
CREATE VIRTUAL TABLE users_fts USING fts5 (
    search, name_search, username, emails, phones,
    tokenize = 'trigram'
);
CREATE TRIGGER users_fts_insert AFTER INSERT ON users BEGIN
    INSERT INTO users_fts (rowid, search, name_search, username, emails, phones)
    VALUES (new.pk, new.search, new.name_search, COALESCE(new.username, ''), new.emails, new.phones);
END;
CREATE TRIGGER users_fts_update AFTER UPDATE ON users
WHEN old.search IS NOT new.search OR old.name_search IS NOT new.name_search
  OR old.username IS NOT new.username OR old.emails IS NOT new.emails OR old.phones IS NOT new.phones
BEGIN
    DELETE FROM users_fts WHERE rowid = old.pk;
    INSERT INTO users_fts (rowid, search, name_search, username, emails, phones)
    VALUES (new.pk, new.search, new.name_search, COALESCE(new.username, ''), new.emails, new.phones);
END;
CREATE TRIGGER users_fts_delete AFTER DELETE ON users BEGIN
    DELETE FROM users_fts WHERE rowid = old.pk;
END;

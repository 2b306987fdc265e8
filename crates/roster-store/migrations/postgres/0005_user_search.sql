-- The text that substring filters search moves out of `users` into its own table.
--
-- Every write of a user makes a new row version, and none is a HOT update (`updated_at` is
-- indexed), so with the trigram GIN indexes on `users` each metadata write inserted about a hundred
-- trigram entries into three GIN indexes, and flushing their pending lists fell on unlucky writes
-- (tens of milliseconds to seconds under load). Here the searchable text is written only when it
-- changes: on insert, and on an update that sets one of its columns to a new value. `users` keeps
-- its copies of the columns, which the triggers read from.
CREATE TABLE user_search (
    user_id TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    search TEXT NOT NULL,
    name_search TEXT NOT NULL,
    username TEXT
);
INSERT INTO user_search (user_id, search, name_search, username)
SELECT id, search, name_search, username FROM users;
CREATE INDEX user_search_search_trgm ON user_search USING gin (search gin_trgm_ops);
CREATE INDEX user_search_name_search_trgm ON user_search USING gin (name_search gin_trgm_ops);
CREATE INDEX user_search_username_trgm ON user_search USING gin (username gin_trgm_ops);
DROP INDEX users_search_trgm;
DROP INDEX users_name_search_trgm;
DROP INDEX users_username_trgm;

-- Inserts, one statement at a time (a bulk insert of many users is one insert here).
CREATE FUNCTION user_search_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO user_search (user_id, search, name_search, username)
    SELECT id, search, name_search, username FROM inserted_users;
    RETURN NULL;
END $$;
CREATE TRIGGER user_search_insert AFTER INSERT ON users
REFERENCING NEW TABLE AS inserted_users
FOR EACH STATEMENT EXECUTE FUNCTION user_search_inserted();

-- Updates that change the searchable text (an upsert's update half included).
CREATE FUNCTION user_search_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE user_search
    SET search = NEW.search, name_search = NEW.name_search, username = NEW.username
    WHERE user_id = NEW.id;
    RETURN NULL;
END $$;
CREATE TRIGGER user_search_update AFTER UPDATE OF search, name_search, username ON users
FOR EACH ROW
WHEN (OLD.search IS DISTINCT FROM NEW.search
      OR OLD.name_search IS DISTINCT FROM NEW.name_search
      OR OLD.username IS DISTINCT FROM NEW.username)
EXECUTE FUNCTION user_search_updated();

-- Statistics for the planner now, not when autovacuum gets to the new table: without them a
-- substring's selectivity is a fixed guess.
ANALYZE user_search;

-- Frontend API clients (browsers and devices); `doc` is JSON of roster_domain::client::Client.
CREATE TABLE clients (
    id TEXT PRIMARY KEY,
    doc TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

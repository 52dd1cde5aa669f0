-- Presence state a node persists so that it resumes after a restart
-- (DESIGN.md, "Storage"): PUBLISH soft state (RFC 3903), SUBSCRIBE dialogs
-- (RFC 6665) and presence authorization rules. Keep in step with
-- migrations/postgres: the queries in src/store.rs run against both.
--
-- The CHECK constraints repeat what `Write::validate` enforces in Rust, so a
-- bad value never reaches a batch; they guard against other writers.

CREATE TABLE publications (
    etag          TEXT    NOT NULL PRIMARY KEY,
    presentity    TEXT    NOT NULL,
    event         TEXT    NOT NULL,
    content_type  TEXT    NOT NULL,
    body          BLOB    NOT NULL,
    expires_at_ms INTEGER NOT NULL,
    created_seq   INTEGER NOT NULL
);
CREATE INDEX publications_by_presentity ON publications (presentity, created_seq);
CREATE INDEX publications_by_expiry ON publications (expires_at_ms);

CREATE TABLE subscriptions (
    id            TEXT    NOT NULL PRIMARY KEY,
    event         TEXT    NOT NULL,
    presentity    TEXT    NOT NULL,
    watcher       TEXT    NOT NULL,
    call_id       TEXT    NOT NULL,
    local_tag     TEXT    NOT NULL,
    remote_tag    TEXT    NOT NULL,
    local_cseq    INTEGER NOT NULL,
    remote_cseq   INTEGER NOT NULL,
    -- Netstrings ("LEN:ROUTE," per entry): lossless for any header value.
    route_set     TEXT    NOT NULL,
    contact       TEXT    NOT NULL,
    transport     TEXT    NOT NULL,
    peer          TEXT    NOT NULL,
    expires_at_ms INTEGER NOT NULL,
    state         TEXT    NOT NULL CHECK (state IN ('pending', 'active', 'terminated')),
    created_ms    INTEGER NOT NULL
);
CREATE INDEX subscriptions_by_presentity ON subscriptions (presentity);
CREATE INDEX subscriptions_by_expiry ON subscriptions (expires_at_ms);

CREATE TABLE auth_rules (
    presentity TEXT NOT NULL,
    watcher    TEXT NOT NULL,
    action     TEXT NOT NULL CHECK (action IN ('allow', 'block', 'polite-block', 'confirm')),
    PRIMARY KEY (presentity, watcher)
);

-- The source of truth. AUTOINCREMENT: an id is never reused, so a cache
-- entry (or a tombstone) of a deleted user can never be taken for a new one.
CREATE TABLE users (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    name    TEXT    NOT NULL,
    email   TEXT    NOT NULL UNIQUE,
    version INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX users_name ON users (name);

-- Images: one row per original, keyed by the first 20 hex digits of its SHA-256.
-- width/height are after EXIF orientation (what a viewer sees).
CREATE TABLE images (
    id            TEXT PRIMARY KEY CHECK (length(id) = 20),
    sha256        TEXT NOT NULL UNIQUE,
    bytes         INTEGER NOT NULL,
    width         INTEGER NOT NULL,
    height        INTEGER NOT NULL,
    format        TEXT NOT NULL,
    has_alpha     INTEGER NOT NULL DEFAULT 0,
    filename      TEXT NOT NULL DEFAULT '',
    title         TEXT NOT NULL DEFAULT '',
    alt           TEXT NOT NULL DEFAULT '',
    description   TEXT NOT NULL DEFAULT '',
    focal_x       REAL,
    focal_y       REAL,
    blurhash      TEXT NOT NULL DEFAULT '',
    pyramid       TEXT NOT NULL DEFAULT '',   -- long edges of the pyramid levels, e.g. '2560,1280,640'
    taken_at      TEXT,
    camera        TEXT,
    gps_lat       REAL,
    gps_lon       REAL,
    created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX images_created ON images (created_at, id);

-- Tags: human ones are never overwritten by AI ones.
CREATE TABLE tags (
    image_id  TEXT NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    tag       TEXT NOT NULL,
    source    TEXT NOT NULL CHECK (source IN ('ai', 'human')),
    score     REAL,
    PRIMARY KEY (image_id, tag)
);
CREATE INDEX tags_tag ON tags (tag);

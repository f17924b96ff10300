-- Near-duplicates (indexer/hashes.py, indexer/duplicates.py).
--
-- 64-bit perceptual hashes of the upright picture, stored as signed 64-bit integers
-- (SQLite's INTEGER); written by ingest in the same INSERT as the image row.
ALTER TABLE images ADD COLUMN phash INTEGER;
ALTER TABLE images ADD COLUMN dhash INTEGER;

-- Pairs an editor marked "not duplicates": never proposed again.  Stored once per pair,
-- smaller id first.
CREATE TABLE duplicate_dismissals (
    image_a     TEXT NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    image_b     TEXT NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (image_a, image_b),
    CHECK (image_a < image_b)
) WITHOUT ROWID;
CREATE INDEX duplicate_dismissals_b ON duplicate_dismissals (image_b);

-- Every process keeps the hashes in memory and reads only rows it has not seen yet
-- (by rowid).  Deletions and hash rewrites cannot be seen that way: they bump this
-- counter, and a process that sees it move reloads everything.
CREATE TABLE hash_index_state (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    generation  INTEGER NOT NULL
);
INSERT INTO hash_index_state (id, generation) VALUES (1, 0);

CREATE TRIGGER images_hash_deleted AFTER DELETE ON images
BEGIN
    UPDATE hash_index_state SET generation = generation + 1 WHERE id = 1;
END;

CREATE TRIGGER images_hash_rewritten AFTER UPDATE OF phash, dhash ON images
BEGIN
    UPDATE hash_index_state SET generation = generation + 1 WHERE id = 1;
END;

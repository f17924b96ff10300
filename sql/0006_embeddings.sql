-- CLIP results (indexer/embeddings.py, indexer/autotag.py).
--
-- One image embedding per image: L2-normalised float32, with the identity of the model
-- that made it; a worker with a different model re-embeds.
CREATE TABLE embeddings (
    image_id    TEXT PRIMARY KEY REFERENCES images (id) ON DELETE CASCADE,
    model       TEXT NOT NULL,
    dim         INTEGER NOT NULL CHECK (dim > 0),
    vector      BLOB NOT NULL CHECK (length(vector) = 4 * dim),
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX embeddings_model ON embeddings (model);

-- Text embeddings of the tag vocabulary (prompt-template ensembles), cached per model and
-- vocabulary: computing them for ~1000 labels takes a minute with ViT-B-32 on a CPU.
CREATE TABLE label_embeddings (
    cache_key   TEXT PRIMARY KEY,                  -- sha256 of model identity + vocabulary
    model       TEXT NOT NULL,
    labels      TEXT NOT NULL,                     -- JSON list, row order of vectors
    dim         INTEGER NOT NULL,
    vectors     BLOB NOT NULL,                     -- float32, len(labels) x dim
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

-- The last alt-text and title the AI drafted.  The image's alt/title count as an AI
-- draft while they still equal these; once an editor changes them they are human and
-- the AI never writes them again.  Kept out of the images table so that editors' code
-- paths need to know nothing about it.
CREATE TABLE ai_drafts (
    image_id    TEXT PRIMARY KEY REFERENCES images (id) ON DELETE CASCADE,
    title       TEXT NOT NULL DEFAULT '',
    alt         TEXT NOT NULL DEFAULT '',
    model       TEXT NOT NULL,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

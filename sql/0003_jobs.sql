-- The indexer's job queue (indexer/jobs.py) and the worker's self-reported state.
--
-- One row per (image, kind).  A job is 'pending' until a worker claims it ('running'),
-- then 'done', or back to 'pending' with a later run_after (exponential backoff) after a
-- failure, or 'failed' once its attempts are used up.  Rows are kept when done so that
-- progress is visible; a new model or a retry resets them to 'pending'.
CREATE TABLE jobs (
    id          INTEGER PRIMARY KEY,
    image_id    TEXT NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    state       TEXT NOT NULL DEFAULT 'pending'
                CHECK (state IN ('pending', 'running', 'done', 'failed')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    run_after   REAL NOT NULL DEFAULT 0,           -- unix seconds; not claimed before
    last_error  TEXT NOT NULL DEFAULT '',
    updated_at  REAL NOT NULL DEFAULT ((julianday('now') - 2440587.5) * 86400.0),
    UNIQUE (image_id, kind)
);
CREATE INDEX jobs_ready ON jobs (state, run_after);

-- Ingest enqueues by way of this trigger: the job commits in the same transaction as the
-- image row, whichever code path inserted it (upload, folder ingest, watcher).
CREATE TRIGGER images_enqueue_clip AFTER INSERT ON images
BEGIN
    INSERT OR IGNORE INTO jobs (image_id, kind) VALUES (NEW.id, 'clip');
END;

-- What the worker process says about itself, for /api/status and `pictor jobs`:
-- state is starting | loading | ready | unavailable | stopped; detail explains it.
CREATE TABLE worker_state (
    name        TEXT PRIMARY KEY,
    state       TEXT NOT NULL,
    detail      TEXT NOT NULL DEFAULT '',
    model       TEXT NOT NULL DEFAULT '',
    pid         INTEGER NOT NULL,
    heartbeat   REAL NOT NULL                      -- unix seconds of the last sign of life
);

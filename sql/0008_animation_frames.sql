-- Animated originals (GIF, WebP): how many frames the original has.  The pyramid
-- holds the first frame only, so animated gif/webp output is rendered from the
-- original.  Rows ingested before this migration read as still images (1).
ALTER TABLE images ADD COLUMN frames INTEGER NOT NULL DEFAULT 1 CHECK (frames >= 1);

-- Full-text search (indexer/search.py).
--
-- search_documents holds one flat text document per image (tags joined into one column);
-- images_fts is an FTS5 external-content index over it.  Triggers keep both in sync with
-- images and tags, so every writer (ingest, PATCH, AI tagging, deletes) updates the index
-- without knowing about it.  The FTS 'delete' command needs the exact old column values,
-- which is why the flattened document is stored rather than computed by a view.
CREATE TABLE search_documents (
    doc_id       INTEGER PRIMARY KEY,
    image_id     TEXT NOT NULL UNIQUE REFERENCES images (id) ON DELETE CASCADE,
    title        TEXT NOT NULL DEFAULT '',
    alt          TEXT NOT NULL DEFAULT '',
    description  TEXT NOT NULL DEFAULT '',
    tags         TEXT NOT NULL DEFAULT '',
    filename     TEXT NOT NULL DEFAULT ''
);

CREATE VIRTUAL TABLE images_fts USING fts5 (
    title, alt, description, tags, filename,
    content = 'search_documents',
    content_rowid = 'doc_id',
    tokenize = 'porter unicode61 remove_diacritics 2',
    prefix = '2 3'
);

CREATE TRIGGER search_documents_insert AFTER INSERT ON search_documents
BEGIN
    INSERT INTO images_fts (rowid, title, alt, description, tags, filename)
    VALUES (NEW.doc_id, NEW.title, NEW.alt, NEW.description, NEW.tags, NEW.filename);
END;

CREATE TRIGGER search_documents_delete AFTER DELETE ON search_documents
BEGIN
    INSERT INTO images_fts (images_fts, rowid, title, alt, description, tags, filename)
    VALUES ('delete', OLD.doc_id, OLD.title, OLD.alt, OLD.description, OLD.tags, OLD.filename);
END;

CREATE TRIGGER search_documents_update AFTER UPDATE ON search_documents
BEGIN
    INSERT INTO images_fts (images_fts, rowid, title, alt, description, tags, filename)
    VALUES ('delete', OLD.doc_id, OLD.title, OLD.alt, OLD.description, OLD.tags, OLD.filename);
    INSERT INTO images_fts (rowid, title, alt, description, tags, filename)
    VALUES (NEW.doc_id, NEW.title, NEW.alt, NEW.description, NEW.tags, NEW.filename);
END;

CREATE TRIGGER images_search_insert AFTER INSERT ON images
BEGIN
    INSERT INTO search_documents (image_id, title, alt, description, filename)
    VALUES (NEW.id, NEW.title, NEW.alt, NEW.description, NEW.filename);
END;

CREATE TRIGGER images_search_update AFTER UPDATE OF title, alt, description, filename ON images
BEGIN
    UPDATE search_documents
    SET title = NEW.title, alt = NEW.alt, description = NEW.description, filename = NEW.filename
    WHERE image_id = NEW.id;
END;

-- Tags are flattened in a stable order (sorted) so the document is a pure function of
-- the tag set.
CREATE TRIGGER tags_search_insert AFTER INSERT ON tags
BEGIN
    UPDATE search_documents
    SET tags = coalesce((SELECT group_concat(tag, ' ') FROM
                        (SELECT tag FROM tags WHERE image_id = NEW.image_id ORDER BY tag)), '')
    WHERE image_id = NEW.image_id;
END;

CREATE TRIGGER tags_search_delete AFTER DELETE ON tags
BEGIN
    UPDATE search_documents
    SET tags = coalesce((SELECT group_concat(tag, ' ') FROM
                        (SELECT tag FROM tags WHERE image_id = OLD.image_id ORDER BY tag)), '')
    WHERE image_id = OLD.image_id;
END;

CREATE TRIGGER tags_search_update AFTER UPDATE ON tags
BEGIN
    UPDATE search_documents
    SET tags = coalesce((SELECT group_concat(tag, ' ') FROM
                        (SELECT tag FROM tags WHERE image_id = OLD.image_id ORDER BY tag)), '')
    WHERE image_id = OLD.image_id;
    UPDATE search_documents
    SET tags = coalesce((SELECT group_concat(tag, ' ') FROM
                        (SELECT tag FROM tags WHERE image_id = NEW.image_id ORDER BY tag)), '')
    WHERE image_id = NEW.image_id;
END;

-- Index the images that existed before this migration.
INSERT INTO search_documents (image_id, title, alt, description, filename, tags)
SELECT id, title, alt, description, filename,
       coalesce((SELECT group_concat(tag, ' ') FROM
                (SELECT tag FROM tags WHERE tags.image_id = images.id ORDER BY tag)), '')
FROM images;

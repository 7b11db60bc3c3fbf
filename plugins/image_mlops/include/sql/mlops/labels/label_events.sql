-- Labels for training from feedback files and human review (the learning loop). One row per
-- label given: a feedback CSV row (source_ref = the file's key and ETag, row_ref = its row
-- number) or a review decision (source_ref = the reviewer, row_ref = the decision's id).
-- Reading the same file or posting the same decision again adds nothing (the unique key).
-- status: pending until ingest_labels decides; then labeled, already_labeled, superseded,
-- unknown_key, unknown_class or missing_image, with a sentence in detail.
CREATE TABLE IF NOT EXISTS label_events (
    id           bigserial   PRIMARY KEY,
    source       text        NOT NULL CHECK (source IN ('feedback', 'review')),
    source_ref   text        NOT NULL,
    row_ref      text        NOT NULL,
    image_key    text        NOT NULL,
    label        text        NOT NULL,
    actor        text        NOT NULL,
    labelled_at  timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    image_sha256 text        NULL,
    status       text        NOT NULL DEFAULT 'pending',
    detail       text        NULL,
    labeled_key  text        NULL,
    UNIQUE (source, source_ref, row_ref)
);

CREATE INDEX IF NOT EXISTS label_events_status_idx ON label_events (status);
CREATE INDEX IF NOT EXISTS label_events_sha_idx ON label_events (image_sha256);

-- The predictions table of classify_images (stage 5); monitoring (stage 6) reads it.
-- One row per image content (sha256) and model package version. Idempotent: safe to run
-- on every DAG run. Columns may be added, never renamed (monitoring depends on them).
CREATE TABLE IF NOT EXISTS predictions (
    image_sha256      text             NOT NULL,
    model_version     integer          NOT NULL,
    model_package_arn text             NOT NULL,
    endpoint_name     text             NOT NULL,
    source_key        text             NOT NULL,
    output_key        text             NULL,
    predicted_class   text             NULL,
    confidence        double precision NULL,
    top3              jsonb            NOT NULL DEFAULT '[]'::jsonb,
    uncertain         boolean          NOT NULL DEFAULT false,
    error_reason      text             NULL,
    run_id            text             NOT NULL,
    predicted_at      timestamptz      NOT NULL DEFAULT now(),
    input_stats       jsonb            NULL,
    PRIMARY KEY (image_sha256, model_version)
);

CREATE INDEX IF NOT EXISTS predictions_predicted_at_idx ON predictions (predicted_at);
CREATE INDEX IF NOT EXISTS predictions_model_version_idx ON predictions (model_version);
CREATE INDEX IF NOT EXISTS predictions_run_id_idx ON predictions (run_id);

-- The S3 ETag of the object version that was classified (it names that version of
-- source_key; it is no digest of the bytes: S3's ETag of an SSE-KMS object is not their MD5).
-- NULL on rows written before the column existed.
ALTER TABLE predictions ADD COLUMN IF NOT EXISTS source_etag text NULL;
CREATE INDEX IF NOT EXISTS predictions_version_etag_idx ON predictions (model_version, source_etag);

-- The object versions each model version has read, with the content (sha256) each held: one
-- row per model version and key, for the version read last. Planning matches the bucket
-- listing's key and ETag here (the ETag of one object version, stable while that version
-- exists) without a request per image, and finds its content's row in predictions.
CREATE TABLE IF NOT EXISTS prediction_sources (
    model_version integer     NOT NULL,
    source_key    text        NOT NULL,
    source_etag   text        NOT NULL,
    image_sha256  text        NOT NULL,
    read_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (model_version, source_key)
);

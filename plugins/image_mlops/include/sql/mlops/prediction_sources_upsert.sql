-- Record the object versions a model version read (one JSON array, one round trip): per key,
-- the ETag of the version read and the sha256 of its bytes replace what was there.
INSERT INTO prediction_sources (model_version, source_key, source_etag, image_sha256)
SELECT r.model_version, r.source_key, r.source_etag, r.image_sha256
FROM jsonb_to_recordset(%(rows)s::jsonb) AS r (
    model_version integer, source_key text, source_etag text, image_sha256 text
)
ON CONFLICT (model_version, source_key) DO UPDATE SET
    source_etag  = EXCLUDED.source_etag,
    image_sha256 = EXCLUDED.image_sha256,
    read_at      = now();

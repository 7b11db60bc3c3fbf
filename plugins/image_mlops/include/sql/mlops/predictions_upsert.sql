-- Upsert a batch of predictions given as one JSON array (driver-agnostic, one round trip).
-- Re-classifying the same image with the same model version updates its row in place.
INSERT INTO predictions (
    image_sha256, model_version, model_package_arn, endpoint_name, source_key, output_key,
    predicted_class, confidence, top3, uncertain, error_reason, run_id, predicted_at,
    input_stats, source_etag
)
SELECT
    r.image_sha256, r.model_version, r.model_package_arn, r.endpoint_name, r.source_key,
    r.output_key, r.predicted_class, r.confidence, COALESCE(r.top3, '[]'::jsonb),
    r.uncertain, r.error_reason, r.run_id, r.predicted_at, r.input_stats, r.source_etag
FROM jsonb_to_recordset(%(rows)s::jsonb) AS r (
    image_sha256 text, model_version integer, model_package_arn text, endpoint_name text,
    source_key text, output_key text, predicted_class text, confidence double precision,
    top3 jsonb, uncertain boolean, error_reason text, run_id text, predicted_at timestamptz,
    input_stats jsonb, source_etag text
)
ON CONFLICT (image_sha256, model_version) DO UPDATE SET
    model_package_arn = EXCLUDED.model_package_arn,
    endpoint_name     = EXCLUDED.endpoint_name,
    source_key        = EXCLUDED.source_key,
    output_key        = EXCLUDED.output_key,
    predicted_class   = EXCLUDED.predicted_class,
    confidence        = EXCLUDED.confidence,
    top3              = EXCLUDED.top3,
    uncertain         = EXCLUDED.uncertain,
    error_reason      = EXCLUDED.error_reason,
    run_id            = EXCLUDED.run_id,
    predicted_at      = EXCLUDED.predicted_at,
    input_stats       = EXCLUDED.input_stats,
    source_etag       = EXCLUDED.source_etag;

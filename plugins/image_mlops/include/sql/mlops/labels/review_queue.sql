-- Images waiting for a human: the latest model version's uncertain predictions, then a
-- sample of confident ones per class, leaving out images that already have a label event.
WITH latest AS (
    SELECT p.*, row_number() OVER (PARTITION BY p.predicted_class ORDER BY
                                   md5(p.image_sha256)) AS nth
    FROM predictions p
    WHERE p.model_version = (SELECT max(model_version) FROM predictions)
      AND p.output_key IS NOT NULL
      AND p.error_reason IS NULL
      AND NOT EXISTS (SELECT 1 FROM label_events e WHERE e.image_sha256 = p.image_sha256)
)
SELECT image_sha256, source_key, output_key, predicted_class, confidence, top3, uncertain,
       model_version
FROM latest
WHERE uncertain OR nth <= %(confident_per_class)s
ORDER BY uncertain DESC, predicted_class, confidence
LIMIT %(limit)s;

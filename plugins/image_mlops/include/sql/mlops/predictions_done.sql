-- What the given model version has already classified for good among the listed keys:
-- * the object versions it read (prediction_sources: the key, and the ETag that version has)
--   whose content has a row of this version;
-- * rows of this version for listed keys no prediction_sources row covers (written before
--   that table existed): the caller confirms those by sha256.
-- Rows whose error is retryable (the image could not be fetched) do not count as done.
SELECT s.source_key, s.source_etag, NULL AS image_sha256
FROM prediction_sources AS s
JOIN predictions AS p
  ON p.image_sha256 = s.image_sha256 AND p.model_version = s.model_version
WHERE s.model_version = %(model_version)s
  AND s.source_key IN (SELECT jsonb_array_elements_text(%(keys)s::jsonb))
  AND (p.error_reason IS NULL
       OR p.error_reason NOT IN (SELECT jsonb_array_elements_text(%(retryable)s::jsonb)))
UNION ALL
SELECT p.source_key, NULL, p.image_sha256
FROM predictions AS p
WHERE p.model_version = %(model_version)s
  AND p.source_key IN (SELECT jsonb_array_elements_text(%(keys)s::jsonb))
  AND NOT EXISTS (SELECT 1 FROM prediction_sources AS s
                  WHERE s.model_version = p.model_version AND s.source_key = p.source_key)
  AND (p.error_reason IS NULL
       OR p.error_reason NOT IN (SELECT jsonb_array_elements_text(%(retryable)s::jsonb)));

-- What the given model version has already classified among listed objects, by content:
-- rows with one of the given ETags, plus rows written before source_etag existed (NULL) for
-- the given keys (the caller confirms those by sha256). Rows whose error is retryable (the
-- image could not be fetched) do not count as done.
SELECT p.source_etag, p.source_key, p.image_sha256
FROM predictions AS p
WHERE p.model_version = %(model_version)s
  AND (p.source_etag IN (SELECT jsonb_array_elements_text(%(etags)s::jsonb))
       OR (p.source_etag IS NULL
           AND p.source_key IN (SELECT jsonb_array_elements_text(%(keys)s::jsonb))))
  AND (p.error_reason IS NULL
       OR p.error_reason NOT IN (SELECT jsonb_array_elements_text(%(retryable)s::jsonb)));

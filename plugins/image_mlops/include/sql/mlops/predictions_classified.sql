-- This model version's rows for these contents (sha256) that need no retry, with the key each
-- was classified under: a batch does not classify that content again under another key.
SELECT p.image_sha256, p.source_key
FROM predictions AS p
WHERE p.model_version = %(model_version)s
  AND p.image_sha256 IN (SELECT jsonb_array_elements_text(%(shas)s::jsonb))
  AND (p.error_reason IS NULL
       OR p.error_reason NOT IN (SELECT jsonb_array_elements_text(%(retryable)s::jsonb)));

-- Which of the given image hashes the given model version has already classified.
-- Rows whose error is retryable (the image could not be fetched) do not count as done.
SELECT p.image_sha256
FROM predictions AS p
WHERE p.model_version = %(model_version)s
  AND p.image_sha256 IN (SELECT jsonb_array_elements_text(%(shas)s::jsonb))
  AND (p.error_reason IS NULL
       OR p.error_reason NOT IN (SELECT jsonb_array_elements_text(%(retryable)s::jsonb)));

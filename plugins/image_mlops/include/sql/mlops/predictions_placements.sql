-- Where earlier classifications (any model version) placed these images in the output bucket.
SELECT p.image_sha256, p.output_key
FROM predictions AS p
WHERE p.output_key IS NOT NULL
  AND p.image_sha256 IN (SELECT jsonb_array_elements_text(%(shas)s::jsonb));

-- The image a feedback row names (incoming/<path>), as its latest classification saw it.
SELECT DISTINCT ON (source_key) source_key, image_sha256, output_key, predicted_class
FROM predictions
WHERE source_key = ANY(%(keys)s)
ORDER BY source_key, predicted_at DESC;

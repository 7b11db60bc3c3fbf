-- Predictions of one model version in a time window (monitor_model).
SELECT source_key, predicted_class, confidence, uncertain, error_reason, input_stats
FROM predictions
WHERE model_version = %(model_version)s
  AND predicted_at >= %(start)s
  AND predicted_at < %(end)s
ORDER BY predicted_at, source_key

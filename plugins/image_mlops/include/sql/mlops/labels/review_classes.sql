-- The classes a reviewer may choose: those the latest model version predicts.
SELECT DISTINCT predicted_class
FROM predictions
WHERE model_version = (SELECT max(model_version) FROM predictions)
  AND predicted_class IS NOT NULL
ORDER BY 1;

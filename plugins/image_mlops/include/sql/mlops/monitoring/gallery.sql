-- The KPI page's gallery: the latest classified images of one model version, at most
-- %(per_folder)s per output folder (a class, or _uncertain), with their confidence.
SELECT folder, output_key, predicted_class, confidence, predicted_at
FROM (
    SELECT
        CASE WHEN uncertain THEN '_uncertain' ELSE predicted_class END AS folder,
        output_key,
        predicted_class,
        confidence,
        predicted_at,
        row_number() OVER (
            PARTITION BY CASE WHEN uncertain THEN '_uncertain' ELSE predicted_class END
            ORDER BY predicted_at DESC, output_key
        ) AS n
    FROM predictions
    WHERE model_version = %(model_version)s
      AND output_key IS NOT NULL
      AND error_reason IS NULL
) latest
WHERE n <= %(per_folder)s
ORDER BY folder = '_uncertain', folder, n

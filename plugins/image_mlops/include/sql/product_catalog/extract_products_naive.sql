-- Baseline for bench/catalog_query.py: the same result as extract_products.sql, written the
-- naive way, one correlated subquery per output column (each description column looks up the
-- lowest US description id again). Not used by the pipeline.
SELECT
    p.id AS product_id,
    p.title,
    (
        SELECT i.url
        FROM image AS i
        WHERE i.id = (
            SELECT min(pi.image_id)
            FROM product_images AS pi
            WHERE pi.product_id = p.id AND pi.image_index = 0
        )
    ) AS image_url,
    COALESCE(
        (
            SELECT pd.translated_text
            FROM product_description AS pd
            WHERE pd.id = (
                SELECT min(d.id)
                FROM product_description AS d
                WHERE d.product_id = p.id AND lower(d.country_code) = 'us'
            )
              AND pd.translated_text ~ '[^[:space:]]'
        ),
        (
            SELECT pd.original_text
            FROM product_description AS pd
            WHERE pd.id = (
                SELECT min(d.id)
                FROM product_description AS d
                WHERE d.product_id = p.id AND lower(d.country_code) = 'us'
            )
        )
    ) AS description
FROM product AS p
ORDER BY p.id

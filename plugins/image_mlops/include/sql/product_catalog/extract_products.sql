-- One row per existing product: product_id, title, image_url, description.
--
-- image_url   URL of the product's image with image_index = 0 (the main image); NULL when the
--             product has none; the lowest image id when several images have index 0.
-- description the translated text when it has any non-blank character, else the original
--             text, of the product's description whose country_code is 'us' compared
--             case-insensitively; NULL when there is none; the lowest description id when
--             several US descriptions exist.
--
-- Each LATERAL subquery returns at most one row (LIMIT 1), and LEFT JOIN ... ON true keeps the
-- products for which it returns none, so the result has exactly one row per product. Indexes
-- used: product_images_main_idx, product_description_country_idx (see schema.sql).
SELECT
    p.id AS product_id,
    p.title,
    main_image.url AS image_url,
    CASE
        WHEN us_description.translated_text ~ '[^[:space:]]' THEN us_description.translated_text
        ELSE us_description.original_text
    END AS description
FROM product AS p
LEFT JOIN LATERAL (
    SELECT i.url
    FROM product_images AS pi
    JOIN image AS i ON i.id = pi.image_id
    WHERE pi.product_id = p.id
      AND pi.image_index = 0
    ORDER BY pi.image_id
    LIMIT 1
) AS main_image ON true
LEFT JOIN LATERAL (
    SELECT pd.translated_text, pd.original_text
    FROM product_description AS pd
    WHERE pd.product_id = p.id
      AND lower(pd.country_code) = 'us'
    ORDER BY pd.id
    LIMIT 1
) AS us_description ON true
ORDER BY p.id

-- Synthetic catalogue for bench/catalog_query.py: %(products)s products, on average 3 images
-- (0-6; every 7th product none; every 11th has two images with index 0) and 2 descriptions
-- (0-4; country codes us/US/Us, de, fr; translated text NULL, '' or text). Statements are
-- separated by lines holding only "-- next" and run in autocommit mode; foreign-key
-- triggers are off while loading; VACUUM sets the visibility map (index-only scans).
SET session_replication_role = replica
-- next
INSERT INTO product (id, title)
SELECT p, 'Product ' || p || ' ' || md5(p::text)
FROM generate_series(1, %(products)s) AS p
-- next
INSERT INTO image (id, url)
SELECT p * 10 + i, 'https://cdn.example.com/images/' || p || '/' || i || '.jpg'
FROM generate_series(1, %(products)s) AS p, generate_series(0, p %% 7 - 1) AS i
-- next
INSERT INTO product_images (product_id, image_id, image_index)
SELECT p, p * 10 + i, CASE WHEN p %% 11 = 0 AND i = 1 THEN 0 ELSE i END
FROM generate_series(1, %(products)s) AS p, generate_series(0, p %% 7 - 1) AS i
-- next
INSERT INTO product_description (id, product_id, country_code, original_text, translated_text)
SELECT
    p * 10 + j,
    p,
    CASE j WHEN 0 THEN 'de' WHEN 2 THEN 'fr' WHEN 3 THEN 'us'
        ELSE (ARRAY['us', 'US', 'Us'])[p %% 3 + 1] END,
    'Originaltext des Produkts ' || p || ', Beschreibung ' || j,
    CASE p %% 4 WHEN 0 THEN NULL WHEN 1 THEN '' ELSE 'Translated text of product ' || p END
FROM generate_series(1, %(products)s) AS p, generate_series(0, p %% 5 - 1) AS j
-- next
SET session_replication_role = DEFAULT
-- next
VACUUM (ANALYZE) product, image, product_images, product_description

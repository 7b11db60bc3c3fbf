-- Inserts the sample catalogue given as four JSON arrays of objects (parameters %(products)s,
-- %(images)s, %(product_images)s, %(descriptions)s). One statement: foreign keys are checked
-- at its end, when every table has its rows.
WITH new_product AS (
    INSERT INTO product (id, title)
    SELECT r.id, r.title
    FROM json_to_recordset(%(products)s::json) AS r(id bigint, title text)
    RETURNING id
), new_image AS (
    INSERT INTO image (id, url)
    SELECT r.id, r.url
    FROM json_to_recordset(%(images)s::json) AS r(id bigint, url text)
    RETURNING id
), new_link AS (
    INSERT INTO product_images (product_id, image_id, image_index)
    SELECT r.product_id, r.image_id, r.image_index
    FROM json_to_recordset(%(product_images)s::json)
        AS r(product_id bigint, image_id bigint, image_index integer)
    RETURNING product_id
), new_description AS (
    INSERT INTO product_description (id, product_id, country_code, original_text, translated_text)
    SELECT r.id, r.product_id, r.country_code, r.original_text, r.translated_text
    FROM json_to_recordset(%(descriptions)s::json)
        AS r(id bigint, product_id bigint, country_code text, original_text text,
             translated_text text)
    RETURNING id
)
SELECT
    (SELECT count(*) FROM new_product) AS products,
    (SELECT count(*) FROM new_image) AS images,
    (SELECT count(*) FROM new_link) AS product_images,
    (SELECT count(*) FROM new_description) AS descriptions

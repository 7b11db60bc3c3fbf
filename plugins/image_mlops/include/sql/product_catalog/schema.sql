-- Product catalogue schema (idempotent: safe to run on every `image-mlops catalog load-sample`).
--
-- product              one row per product
-- image                one row per image file (an image may serve several products)
-- product_images       which images a product has, in display order (image_index 0 = main image)
-- product_description  the retailers' descriptions, one per country (country_code as entered:
--                      'us', 'US', 'Us' ... are the same country)

CREATE TABLE IF NOT EXISTS product (
    id    bigint PRIMARY KEY,
    title text   NOT NULL
);

CREATE TABLE IF NOT EXISTS image (
    id  bigint PRIMARY KEY,
    url text   NOT NULL
);

CREATE TABLE IF NOT EXISTS product_images (
    product_id  bigint  NOT NULL REFERENCES product (id) ON DELETE CASCADE,
    image_id    bigint  NOT NULL REFERENCES image (id) ON DELETE CASCADE,
    image_index integer NOT NULL CHECK (image_index >= 0),
    PRIMARY KEY (product_id, image_id)
);

CREATE TABLE IF NOT EXISTS product_description (
    id              bigint PRIMARY KEY,
    product_id      bigint NOT NULL REFERENCES product (id) ON DELETE CASCADE,
    country_code    text   NOT NULL,
    original_text   text,
    translated_text text
);

-- The main image of a product: equality on (product_id, image_index), lowest image_id first.
CREATE INDEX IF NOT EXISTS product_images_main_idx
    ON product_images (product_id, image_index, image_id);
-- Foreign key lookups from image (deletes, "which products use this image").
CREATE INDEX IF NOT EXISTS product_images_image_idx
    ON product_images (image_id);
-- The US description of a product, country compared case-insensitively, lowest id first.
CREATE INDEX IF NOT EXISTS product_description_country_idx
    ON product_description (product_id, lower(country_code), id);

-- Empties the catalogue before `image-mlops catalog load-sample` reloads its sample (local only).
TRUNCATE product_description, product_images, image, product

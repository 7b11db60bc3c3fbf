"""Stage 7: the product catalogue from PostgreSQL (title, main image, US description).

``sql`` loads the SQL files of ``image_mlops/include/sql/product_catalog``; ``extract`` streams the
products with a server-side cursor and writes manifest chunks; ``images`` downloads main
images with timeouts, retries, a size cap and a content-type check; ``pipeline`` holds the
DAG's batch steps; ``sample`` builds the local demo catalogue.
"""

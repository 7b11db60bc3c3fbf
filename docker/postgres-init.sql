-- Run once by the official postgres image on an empty data volume
-- (/docker-entrypoint-initdb.d). The `airflow` database itself is POSTGRES_DB.
-- product_catalog: the catalogue the pipeline extracts (connection product_catalog_db).
-- image_mlops: the pipeline's own tables, predictions and deployments (image_mlops_db).
CREATE DATABASE product_catalog;
CREATE DATABASE image_mlops;

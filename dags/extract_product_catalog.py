"""
### Extract the product catalogue

Reads every product of the catalogue database (connection `product_catalog_db`) with
`image_mlops/include/sql/product_catalog/extract_products.sql` — title, main image URL
(image index 0) and US description — streaming through a server-side cursor, then, in batches:

* downloads each main image (http(s) or s3 URL; timeouts, retries with backoff, size cap,
  `image/*` content-type check) into `s3://<raw>/incoming/product-<id>.<ext>` with user
  metadata `product-id`, where `validate_images` picks it up. A row is untrusted: http(s)
  only to public addresses (every redirect checked; `IMAGE_MLOPS_CATALOG_ALLOWED_NETWORKS`
  for an internal image host), s3 only under `IMAGE_MLOPS_CATALOG_S3_ALLOWED_PREFIXES`;
* keeps the description text for the classifier at `s3://<raw>/catalog/texts/product-<id>.txt`;
* writes the manifest `s3://<raw>/catalog/<run>/products.jsonl`: one line per product with
  its title, image URL, description, description key and download outcome.

A product whose image cannot be fetched is recorded in the manifest with a reason
(`no_image_url`, `not_found`, `timeout`, `too_large`, `not_an_image_content_type`,
`unsupported_url_scheme`, `blocked_address`, `s3_not_allowed`, ...) and its URL without
credentials or query string; it never fails the run. Re-runs are idempotent.

**Params**: `limit` (0 = every product), `batch_size` (products per download task).
Emits the `product_catalog` asset.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag, task

from image_mlops.assets import PRODUCT_CATALOG
from image_mlops.config import get_settings
from image_mlops.dag_defaults import default_args

settings = get_settings()


@dag(
    dag_id="extract_product_catalog",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["image-mlops", "catalog"],
    default_args=default_args(settings),
    params={
        "limit": Param(0, type="integer", minimum=0, description="At most this many (0 = all)."),
        "batch_size": Param(
            settings.catalog_batch_size,
            type="integer",
            minimum=1,
            description="Products per download batch (one mapped task each).",
        ),
    },
    doc_md=__doc__,
)
def extract_product_catalog():
    @task
    def extract_products(run_id=None, params=None) -> list[int]:
        """Stream the query into manifest chunks; returns the chunk numbers."""
        from image_mlops.catalog.pipeline import extract_chunks

        return extract_chunks(
            get_settings(), run_id, batch_size=params["batch_size"], limit=params["limit"]
        )

    @task(max_active_tis_per_dagrun=4)
    def download_main_images(chunk: int, run_id=None) -> dict:
        """Download one chunk's main images and keep its descriptions."""
        from image_mlops.catalog.pipeline import download_chunk

        return download_chunk(get_settings(), run_id, chunk)

    @task(outlets=[PRODUCT_CATALOG], trigger_rule="none_failed")
    def write_manifest(chunks: list[int], run_id=None) -> dict:
        """Write catalog/<run>/products.jsonl and return the run's summary."""
        from image_mlops.catalog.pipeline import write_manifest as write

        return write(get_settings(), run_id, chunks)

    chunks = extract_products()
    downloads = download_main_images.expand(chunk=chunks)
    downloads >> write_manifest(chunks)


extract_product_catalog()

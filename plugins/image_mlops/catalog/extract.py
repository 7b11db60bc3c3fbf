"""Stream the catalogue out of PostgreSQL with a server-side cursor.

The query (``extract_products.sql``) runs in a *named* cursor: PostgreSQL keeps the result on
the server and we fetch ``fetch_size`` rows at a time, so memory stays bounded whatever the
size of the catalogue. Rows are grouped into chunks of ``batch_size`` products, each written
to S3 as one JSON-lines object that a download task picks up.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

from image_mlops.catalog.sql import load_sql

log = logging.getLogger(__name__)

#: Name of the server-side cursor (visible in ``pg_cursors`` while a run streams).
CURSOR_NAME = "image_mlops_catalog_products"
QUERY_NAME = "extract_products"


@dataclass(frozen=True)
class ProductRow:
    """One row of ``extract_products.sql``."""

    product_id: int
    title: str
    image_url: str | None
    description: str | None

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, line: str) -> ProductRow:
        data = json.loads(line)
        return cls(**{k: data[k] for k in ("product_id", "title", "image_url", "description")})


def catalog_hook(settings):
    """The Postgres provider's hook on the catalogue connection (``product_catalog_db``)."""
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    return PostgresHook(postgres_conn_id=settings.catalog_conn_id)


def iter_products(
    conn: Any, fetch_size: int, limit: int = 0, query: str = QUERY_NAME
) -> Iterator[ProductRow]:
    """Yield the catalogue's products in ``product_id`` order through a server-side cursor.

    ``conn`` is a DB-API connection (psycopg 3 or psycopg2, as the provider gives it); the
    cursor lives in a transaction that is rolled back at the end (the query only reads).
    ``limit`` > 0 stops after that many products (local tries).
    """
    if fetch_size <= 0:
        raise ValueError("fetch_size must be positive")
    sql = load_sql(query)
    cursor = conn.cursor(name=CURSOR_NAME)
    try:
        cursor.itersize = fetch_size
        cursor.execute(sql)
        produced = 0
        while True:
            rows = cursor.fetchmany(fetch_size)
            if not rows:
                return
            for product_id, title, image_url, description in rows:
                yield ProductRow(int(product_id), title, image_url, description)
                produced += 1
                if limit and produced >= limit:
                    return
    finally:
        cursor.close()
        conn.rollback()


def chunked(rows: Iterable[ProductRow], size: int) -> Iterator[list[ProductRow]]:
    """Consecutive lists of at most ``size`` rows (only one list in memory at a time)."""
    if size <= 0:
        raise ValueError("size must be positive")
    chunk: list[ProductRow] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def rows_to_jsonl(rows: Iterable[ProductRow]) -> bytes:
    return "".join(row.to_json() + "\n" for row in rows).encode("utf-8")


def rows_from_jsonl(data: bytes) -> list[ProductRow]:
    return [ProductRow.from_json(line) for line in data.decode("utf-8").splitlines() if line]

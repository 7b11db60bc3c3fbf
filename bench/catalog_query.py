"""Benchmark of the catalogue extraction query against a naive correlated-subquery version.

Starts a private embedded PostgreSQL in a temporary folder under /tmp on a free port, creates
the schema (include/sql/product_catalog/schema.sql, with its indexes), loads a synthetic
catalogue with generate_series (default 1,000,000 products, 3 images and 2 descriptions each
on average), then times a full streaming scan (server-side cursor, fetch size 2000) of

* extract_products.sql        — the pipeline's query (LEFT JOIN LATERAL ... LIMIT 1), and
* extract_products_naive.sql  — one correlated subquery per column (the baseline),

and prints the EXPLAIN (ANALYZE, BUFFERS) plan of the fixed query. Nothing is asserted.

    .venv/bin/python bench/catalog_query.py                   # 1M products (~2-3 minutes)
    .venv/bin/python bench/catalog_query.py --products 100000 # quicker
"""

from __future__ import annotations

import argparse
import resource
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins"))
sys.path.insert(0, str(ROOT / "dev"))

from image_mlops.catalog.sql import load_sql  # noqa: E402
from image_mlops_dev.stack.postgres import EmbeddedPostgres  # noqa: E402
from image_mlops_dev.stack.processes import free_port  # noqa: E402

LOAD_SQL = Path(__file__).with_name("catalog_query_load.sql")
FETCH_SIZE = 2000


def load(conn, products: int) -> float:
    started = time.perf_counter()
    conn.autocommit = True  # VACUUM cannot run inside a transaction
    with conn.cursor() as cursor:
        cursor.execute(load_sql("schema"))
        text = LOAD_SQL.read_text()
        body = text[text.index("SET session_replication_role = replica") :]
        for statement in body.split("-- next"):
            cursor.execute(statement.strip(), {"products": products})
    conn.autocommit = False
    return time.perf_counter() - started


def counts(conn) -> dict[str, int]:
    result = {}
    with conn.cursor() as cursor:
        for table in ("product", "image", "product_images", "product_description"):
            cursor.execute(f"SELECT count(*) FROM {table}")  # table names are constants
            result[table] = cursor.fetchone()[0]
    return result


def stream(conn, query: str, limit_ids: int = 0) -> tuple[int, float, float]:
    """(rows, seconds, client RSS growth in MB) of a full server-side-cursor scan."""
    sql = load_sql(query)
    params = None
    if limit_ids:
        # time the naive query on the first `limit_ids` products only (same plan shape)
        sql = sql.replace("FROM product AS p\n", "FROM product AS p\nWHERE p.id <= %(n)s\n")
        params = {"n": limit_ids}
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    rows = 0
    with conn.cursor(name=f"bench_{query}") as cursor:
        cursor.itersize = FETCH_SIZE
        cursor.execute(sql, params)
        while batch := cursor.fetchmany(FETCH_SIZE):
            rows += len(batch)
    seconds = time.perf_counter() - started
    conn.rollback()
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    return rows, seconds, grown


def explain(conn) -> str:
    with conn.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + load_sql("extract_products"))
        plan = "\n".join(row[0] for row in cursor.fetchall())
    conn.rollback()
    return plan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=1_000_000)
    parser.add_argument(
        "--naive-products",
        type=int,
        default=None,
        help="time the naive query on the first N products only (default: all)",
    )
    parser.add_argument("--no-explain", action="store_true")
    args = parser.parse_args(argv)

    import psycopg

    tmp = Path(tempfile.mkdtemp(prefix="catalog-bench-", dir="/tmp"))
    tmp.chmod(0o755)
    pg = EmbeddedPostgres(tmp / "data", free_port(), password=secrets.token_urlsafe(16))
    print(f"starting a private PostgreSQL on 127.0.0.1:{pg.port} in {tmp}", flush=True)
    try:
        pg.start()
        pg.ensure_database("catalog_bench")
        with psycopg.connect(pg.uri("catalog_bench")) as conn:
            seconds = load(conn, args.products)
            sizes = counts(conn)
            print(
                f"loaded in {seconds:.1f} s: {sizes['product']:,} products, "
                f"{sizes['product_images']:,} product images "
                f"({sizes['product_images'] / sizes['product']:.2f}/product), "
                f"{sizes['product_description']:,} descriptions "
                f"({sizes['product_description'] / sizes['product']:.2f}/product)",
                flush=True,
            )
            rows, fixed_s, fixed_mb = stream(conn, "extract_products")
            print(
                f"fixed query (extract_products.sql):  {rows:>9,} rows in {fixed_s:6.2f} s = "
                f"{rows / fixed_s:>9,.0f} rows/s  (client max RSS +{fixed_mb:.0f} MB)",
                flush=True,
            )
            subset = args.naive_products or 0
            n_rows, naive_s, _ = stream(conn, "extract_products_naive", subset)
            scope = f"first {subset:,} products" if subset else "all products"
            print(
                f"naive correlated subqueries ({scope}): {n_rows:>9,} rows in {naive_s:6.2f} s = "
                f"{n_rows / naive_s:>9,.0f} rows/s",
                flush=True,
            )
            ratio = (n_rows / naive_s) and (rows / fixed_s) / (n_rows / naive_s)
            print(f"fixed / naive throughput: {ratio:.2f}x", flush=True)
            if not args.no_explain:
                print("\nEXPLAIN (ANALYZE, BUFFERS) of the fixed query:")
                print(explain(conn))
    finally:
        pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

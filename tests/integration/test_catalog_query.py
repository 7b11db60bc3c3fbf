"""extract_products.sql on the test stack's real PostgreSQL, against the sample's edge cases."""

from __future__ import annotations

import json

import pytest

from image_mlops.catalog.extract import CURSOR_NAME, iter_products
from image_mlops.catalog.sample import (
    EDGE_CASES,
    REGULAR_PRODUCTS,
    build_sample,
    create_schema,
    expected_rows,
    load_rows,
)
from image_mlops.catalog.sql import load_sql

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def products(local_stack):
    return build_sample("image-mlops-raw")


@pytest.fixture
def conn(local_stack, products):
    from image_mlops.catalog.extract import catalog_hook
    from image_mlops.config import get_settings

    connection = catalog_hook(get_settings()).get_conn()
    create_schema(connection)
    load_rows(connection, products)
    yield connection
    connection.close()


def by_id(rows):
    return {row.product_id: row for row in rows}


def test_one_row_per_product_in_id_order(conn, products):
    rows = list(iter_products(conn, fetch_size=7))
    ids = [row.product_id for row in rows]
    assert ids == sorted(p.id for p in products)
    assert len(ids) == len(REGULAR_PRODUCTS) + len(EDGE_CASES) == 54


def test_rows_match_the_rules_computed_in_python(conn, products):
    rows = [(r.product_id, r.title, r.image_url, r.description) for r in iter_products(conn, 100)]
    assert rows == expected_rows(products)


def test_every_edge_case_exactly(conn, products):
    rows = by_id(iter_products(conn, 100))
    sample = {p.id: p for p in products}

    def english(pid):
        p = sample[pid]
        return f"{p.title}: durable {p.category} for everyday use, product #{pid}."

    def url(pid, n):
        return f"s3://image-mlops-raw/catalog-media/product-{pid}-{n}.jpg"

    # 41: no images at all; 42: images but none with index 0
    assert (rows[41].image_url, rows[41].description) == (None, english(41))
    assert (rows[42].image_url, rows[42].description) == (None, english(42))
    # 43: two index-0 images: the lowest image id (the second image inserted)
    assert rows[43].image_url == url(43, 1)
    assert sample[43].images[1].id < sample[43].images[2].id
    # 44: no description; 50: only a German one; 54: nothing at all
    assert (rows[44].image_url, rows[44].description) == (url(44, 0), None)
    assert rows[50].description is None
    assert (rows[54].image_url, rows[54].description) == (None, None)
    # 45: 'US' with a translation; 46: 'Us' with translated NULL → original text
    assert rows[45].description == english(45)
    assert sample[45].descriptions[0].original_text.startswith("Hochwertige")
    assert rows[46].description == english(46)
    # 47: translated '' and 48: translated blank → original text
    assert rows[47].description == english(47)
    assert rows[48].description == english(48)
    # 49: two US descriptions → the lowest id's translation (not the German one, not the newer)
    assert rows[49].description == english(49)
    # 51-53: broken URLs are still extracted as they are
    assert rows[52].image_url == "ftp://images.example.com/products/52.jpg"
    # a regular product: its translated text, its main image
    assert (rows[1].image_url, rows[1].description) == (url(1, 0), english(1))
    assert rows[1].title == "Organic Travel Mug"


def test_naive_baseline_returns_the_same_rows(conn):
    fixed = list(iter_products(conn, 100))
    naive = list(iter_products(conn, 100, query="extract_products_naive"))
    assert naive == fixed


def test_streams_through_a_server_side_cursor(conn):
    rows = iter_products(conn, fetch_size=5)
    first = next(rows)
    with conn.cursor() as probe:
        probe.execute("SELECT name FROM pg_cursors")
        open_cursors = [name for (name,) in probe.fetchall()]
    assert CURSOR_NAME in open_cursors
    assert first.product_id == 1
    rest = list(rows)
    assert len(rest) == 53
    with conn.cursor() as probe:
        probe.execute("SELECT count(*) FROM pg_cursors")
        assert probe.fetchone()[0] == 0
    conn.rollback()


def test_limit_stops_early(conn):
    assert [r.product_id for r in iter_products(conn, fetch_size=3, limit=4)] == [1, 2, 3, 4]


def test_query_can_use_the_indexes(conn):
    with conn.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN (FORMAT JSON) " + load_sql("extract_products"))
        plan = json.dumps(cursor.fetchone()[0])
    conn.rollback()
    for index in ("product_images_main_idx", "product_description_country_idx", "product_pkey"):
        assert index in plan


def test_schema_and_sample_load_are_idempotent(conn, products):
    create_schema(conn)
    counts = load_rows(conn, products)
    assert counts == {
        "products": 54,
        "images": sum(len(p.images) for p in products),
        "product_images": sum(len(p.images) for p in products),
        "descriptions": sum(len(p.descriptions) for p in products),
    }
    assert len(list(iter_products(conn, 100))) == 54

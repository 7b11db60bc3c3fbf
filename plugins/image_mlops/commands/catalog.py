"""``image-mlops catalog load-sample|extract``: the local product catalogue.

``load-sample`` creates the schema in the catalogue database (connection
``product_catalog_db``) and (re)loads the deterministic sample with every edge case, plus the
pictures its ``s3://`` URLs point at. ``extract`` prints the extraction query's rows as JSON
lines (streamed through the same server-side cursor as the DAG), for a quick look.
"""

from __future__ import annotations

import argparse
import json
import sys

from image_mlops.commands import CommandError, local_settings


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("catalog", help="the product catalogue database (stage 7)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    load = actions.add_parser(
        "load-sample",
        help="create the schema and (re)load the sample catalogue (replaces its rows)",
    )
    load.add_argument(
        "--force",
        action="store_true",
        help="allow it when IMAGE_MLOPS_TARGET is not local (it empties the catalogue!)",
    )
    extract = actions.add_parser("extract", help="print the extracted products as JSON lines")
    extract.add_argument("--limit", type=int, default=20, help="at most this many (0 = all)")
    parser.set_defaults(func=run)


def _connection(settings):
    from image_mlops.catalog.extract import catalog_hook

    try:
        return catalog_hook(settings).get_conn()
    except Exception as exc:
        raise CommandError(
            f"cannot connect to the catalogue database (connection {settings.catalog_conn_id}): "
            f"{exc}. Start the local stack with `image-mlops stack up --no-airflow`."
        ) from None


def run(args: argparse.Namespace) -> int:
    settings = local_settings()
    if args.action == "load-sample":
        return _load_sample(settings, args.force)
    if args.limit < 0:
        raise CommandError("--limit must be >= 0", exit_code=2)
    return _extract(settings, args.limit)


def _load_sample(settings, force: bool) -> int:
    from image_mlops.catalog.sample import EDGE_CASES, load_sample

    if not settings.is_local and not force:
        raise CommandError(
            "load-sample replaces every row of the catalogue: it runs on the local target only "
            "(add --force if you really mean it)",
            exit_code=2,
        )
    conn = _connection(settings)
    try:
        counts = load_sample(settings, conn=conn)
    finally:
        conn.close()
    print(json.dumps(counts))
    print(
        f"{len(EDGE_CASES)} edge-case products (ids {min(EDGE_CASES)}-{max(EDGE_CASES)}); "
        "run the DAG extract_product_catalog to extract them",
        file=sys.stderr,
    )
    return 0


def _extract(settings, limit: int) -> int:
    from image_mlops.catalog.extract import iter_products

    conn = _connection(settings)
    try:
        for row in iter_products(conn, settings.catalog_fetch_size, limit=limit):
            print(row.to_json())
    except Exception as exc:
        if type(exc).__name__ == "UndefinedTable":
            raise CommandError(
                "the catalogue has no tables yet: run `image-mlops catalog load-sample`"
            ) from None
        raise
    finally:
        conn.close()
    return 0

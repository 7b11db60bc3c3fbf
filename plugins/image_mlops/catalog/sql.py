"""The catalogue's SQL lives in ``image_mlops/include/sql/product_catalog/<name>.sql``;
this loads it."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from image_mlops.config import INCLUDE_DIR

SQL_DIR = INCLUDE_DIR / "sql" / "product_catalog"
_NAME = re.compile(r"^[a-z0-9_]+$")


def sql_path(name: str) -> Path:
    """Path of the SQL file ``name`` (without ``.sql``); only plain names are accepted."""
    if not _NAME.match(name):
        raise ValueError(f"SQL file name {name!r} must match {_NAME.pattern}")
    return SQL_DIR / f"{name}.sql"


@cache
def load_sql(name: str) -> str:
    """Text of ``include/sql/product_catalog/<name>.sql`` (trailing ``;`` and blanks removed)."""
    path = sql_path(name)
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in SQL_DIR.glob("*.sql")))
        raise FileNotFoundError(f"no SQL file {path}; known: {known}")
    return path.read_text(encoding="utf-8").strip().rstrip(";").strip()

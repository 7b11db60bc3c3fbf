"""Untrusted text inside the markdown we build (approval bodies, run notes).

Class names are S3 folder names and package metadata is whatever a training run recorded: a
``|`` in a class name would otherwise end a table cell and forge rows of the recall table, a
``*`` or ``[`` restyle or link the approval a human decides on.
"""

from __future__ import annotations

import re
from typing import Any

# CommonMark lets any ASCII punctuation be backslash-escaped; these are the ones that change
# what inline text or a table row means.
_SPECIAL = re.compile(r"([\\`*_\[\]<>|#~!])")


def text(value: Any) -> str:
    """``value`` as literal inline markdown text: one line, its markup escaped."""
    return _SPECIAL.sub(r"\\\1", " ".join(str(value).split()))


def code(value: Any) -> str:
    """``value`` as an inline code span (a backtick inside cannot end it)."""
    content = " ".join(str(value).split())
    fence = "`" * (max((len(run) for run in re.findall(r"`+", content)), default=0) + 1)
    pad = " " if content.startswith("`") or content.endswith("`") else ""
    return f"{fence}{pad}{content}{pad}{fence}"

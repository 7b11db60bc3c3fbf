"""Label-free drift signals: PSI of the predicted class mix, KS tests of input statistics."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

#: Floor for empty bins so PSI stays finite (standard practice).
PSI_EPSILON = 1e-4


def psi(expected: Mapping[str, float], actual_counts: Mapping[str, int]) -> float:
    """Population stability index of ``actual_counts`` against the ``expected`` fractions.

    Classes in either side count; empty bins are floored at ``PSI_EPSILON``. 0 = same mix,
    > 0.1 moderate shift, > 0.2 significant shift. No predictions → 0.0.
    """
    total = sum(actual_counts.values())
    if total == 0:
        return 0.0
    exp_total = sum(expected.values()) or 1.0
    value = 0.0
    for cls in set(expected) | set(actual_counts):
        e = max(expected.get(cls, 0.0) / exp_total, PSI_EPSILON)
        a = max(actual_counts.get(cls, 0) / total, PSI_EPSILON)
        value += (a - e) * math.log(a / e)
    return value


@dataclass(frozen=True)
class KsResult:
    stat: str
    statistic: float
    pvalue: float
    n_live: int
    n_baseline: int


def input_drift(
    live: Iterable[Mapping[str, float]], baseline: Mapping[str, Sequence[float]]
) -> list[KsResult]:
    """Two-sample Kolmogorov-Smirnov test per input statistic (live vs training baseline).

    Statistics with fewer than 2 values on either side are skipped.
    """
    from scipy.stats import ks_2samp

    live = list(live)
    results = []
    for stat, reference in sorted(baseline.items()):
        values = [float(row[stat]) for row in live if row and row.get(stat) is not None]
        if len(values) < 2 or len(reference) < 2:
            continue
        test = ks_2samp(values, [float(v) for v in reference])
        results.append(
            KsResult(stat, float(test.statistic), float(test.pvalue), len(values), len(reference))
        )
    return results

"""What monitoring's pure steps cost: the KPIs of a window of predictions and the input-drift
tests (``image_mlops.monitoring.kpis.compute_kpis``, ``drift.input_drift``).

.venv/bin/python bench/monitoring_kpis.py [--rows 200000] [--baseline 1000] [--rounds 3]

``--rows`` synthetic prediction rows (7 classes, every other one labelled, 1 % errors) go
through ``compute_kpis``, next to the floor of the same run: only reading each row's fields.
Then the two-sample KS test of the 5 input statistics (brightness, contrast, saturation, width,
height) of ``--rows`` live values against ``--baseline`` training values. Best of
``--rounds``, wall time.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins"))

CLASSES = ("book", "bottle", "lamp", "mug", "shirt", "shoe", "_uncertain")
STATISTICS = ("brightness", "contrast", "saturation", "width", "height")


def best(rounds: int, run) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--baseline", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from image_mlops.monitoring.drift import input_drift
    from image_mlops.monitoring.kpis import compute_kpis

    rng = random.Random(0)
    rows, labels = [], {}
    for i in range(args.rows):
        key = f"incoming/img-{i}.jpg"
        predicted = rng.choice(CLASSES[:-1])
        rows.append(
            {
                "source_key": key,
                "predicted_class": predicted,
                "confidence": rng.random(),
                "uncertain": rng.random() < 0.1,
                "error_reason": "corrupt" if rng.random() < 0.01 else None,
            }
        )
        if i % 2 == 0:
            labels[key] = predicted if rng.random() < 0.9 else rng.choice(CLASSES[:-1])

    def read_only():
        for row in rows:
            (row.get("error_reason"), row.get("predicted_class"), row.get("confidence"))
            labels.get(row["source_key"])

    kpis = best(args.rounds, lambda: compute_kpis(rows, labels, CLASSES[:-1]))
    floor = best(args.rounds, read_only)
    print(
        f"compute_kpis: {args.rows / kpis:,.0f} prediction rows/s "
        f"(floor, reading the fields only: {args.rows / floor:,.0f} rows/s)"
    )

    live = [{stat: rng.gauss(100, 20) for stat in STATISTICS} for _ in range(args.rows)]
    baseline = {stat: [rng.gauss(105, 20) for _ in range(args.baseline)] for stat in STATISTICS}
    ks = best(args.rounds, lambda: input_drift(live, baseline))
    print(
        f"KS tests, {len(STATISTICS)} statistics x {args.rows:,} live values vs "
        f"{args.baseline:,} baseline values: {ks:.2f} s"
    )


if __name__ == "__main__":
    main()

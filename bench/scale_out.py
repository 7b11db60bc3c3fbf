"""Scale-out: validation and classification throughput with 1 and with 2 Celery workers.

    .venv/bin/python bench/scale_out.py [--images 240] [--batch-size 20]

For each worker count, a private stack on the CeleryExecutor profile (what ``make up
EXECUTOR=celery WORKERS=N`` starts; each worker runs two task slots) validates N uploaded
photos through ``validate_images`` and classifies them through the ``classify_images`` run
their Asset starts (endpoint route). Per DAG it prints what a user meets: the run's wall
time, images per second over the batches' span (first batch start to last batch end), the
batch task instances, their mean duration, how many of them ran at once at most, and which
workers ran them.
The two worker counts are printed side by side with their ratio; on this 2-core machine the
cores are shared by everything (the emulator's model server included), so the ratio is the
figure, not a target. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "plugins"), str(ROOT / "tests"), str(ROOT / "dev")]

BATCH_TASKS = {"validate_images": "validate_batch", "classify_images": "classify_batch"}


def _when(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _figures(client, dag_id: str, run_id: str, images: int, wall: float) -> dict:
    from celery_stack import worker_of

    batches = [
        ti
        for ti in client.task_instances(dag_id, run_id)
        if ti["task_id"] == BATCH_TASKS[dag_id] and ti["start_date"] and ti["end_date"]
    ]
    spans = [(_when(ti["start_date"]), _when(ti["end_date"])) for ti in batches]
    first, last = min(s for s, _ in spans), max(e for _, e in spans)
    edges = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return {
        "wall": wall,
        "rate": images / (last - first),
        "batches": len(batches),
        "batch_seconds": sum(e - s for s, e in spans) / len(spans),
        "peak": peak,
        "workers": dict(sorted(Counter(worker_of(ti) for ti in batches).items())),
    }


def measure(workers: int, images: int, batch_size: int) -> dict[str, dict]:
    from celery_stack import celery_stack
    from validation_corpus import photo_jpeg

    settings = {
        "IMAGE_MLOPS_VALIDATION_BATCH_SIZE": str(batch_size),
        "IMAGE_MLOPS_VALIDATION_MAX_ACTIVE_BATCHES": "8",
        "IMAGE_MLOPS_CLASSIFY_BATCH_SIZE": str(batch_size),
    }
    print(f"\nstarting a private stack with {workers} Celery worker(s) ...", flush=True)
    with celery_stack(workers=workers, settings=settings) as stack:
        client = stack.client
        stack.upload(
            {f"incoming/bench/photo-{i:04d}.jpg": photo_jpeg(i, size=256) for i in range(images)}
        )
        known = {run["dag_run_id"] for run in client.runs("classify_images")}
        results = {}
        start = time.monotonic()
        run_id = client.trigger("validate_images")
        run = client.wait_for_run("validate_images", run_id, timeout=1200)
        assert run["state"] == "success", run
        results["validate_images"] = _figures(
            client, "validate_images", run_id, images, time.monotonic() - start
        )
        start = time.monotonic()
        run_id = client.wait_for_new_run("classify_images", known, timeout=300)
        run = client.wait_for_run("classify_images", run_id, timeout=1200)
        assert run["state"] == "success", run
        results["classify_images"] = _figures(
            client, "classify_images", run_id, images, time.monotonic() - start
        )
        return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=240)
    parser.add_argument("--batch-size", type=int, default=20)
    args = parser.parse_args()
    one = measure(1, args.images, args.batch_size)
    two = measure(2, args.images, args.batch_size)
    print(
        f"\n== {args.images} images, batches of {args.batch_size}, 2 task slots per worker, "
        "2 cores shared =="
    )
    print(
        f"{'DAG':<17}{'workers':>8}{'images/s':>10}{'wall s':>8}{'batches':>9}"
        f"{'batch s':>9}{'at once':>9}  ran on"
    )
    for dag_id in BATCH_TASKS:
        for count, result in ((1, one[dag_id]), (2, two[dag_id])):
            r = result
            print(
                f"{dag_id:<17}{count:>8}{r['rate']:>10.1f}{r['wall']:>8.1f}{r['batches']:>9}"
                f"{r['batch_seconds']:>9.1f}{r['peak']:>9}  {r['workers']}"
            )
        print(
            f"{'':<17}{'2 / 1':>8}{two[dag_id]['rate'] / one[dag_id]['rate']:>10.2f}"
            f"{two[dag_id]['wall'] / one[dag_id]['wall']:>8.2f}"
        )


if __name__ == "__main__":
    main()

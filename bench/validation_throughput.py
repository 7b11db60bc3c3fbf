"""Validation throughput: our batch validator vs a naive decode, and batches vs one task per image.

    .venv/bin/python bench/validation_throughput.py [--images 400] [--dag-images 40] [--quick]
                                                     [--no-airflow]

1. From local bytes, on the same generated 640×640 photo-like JPEGs:
   * our checks (``check_image``: SHA-256, header checks, draft-mode full-stream decode),
     one process — images/s per core — and with a process pool over all cores;
   * a naive baseline: ``Image.open(...).convert("RGB")`` per image, sequential.
2. Airflow (a private embedded stack, like the tests): ``validate_images`` over N images
   (task instances + wall time) versus a DAG with one mapped task per image.

Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "plugins"), str(ROOT / "tests")]

PER_IMAGE_DAG = '''
"""Baseline for the benchmark: one mapped task per image (what validate_images avoids)."""
import pendulum
from airflow.sdk import dag, task


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
def bench_validate_per_image():
    @task
    def list_keys() -> list[str]:
        from image_mlops.aws import aws_client
        from image_mlops.config import get_settings
        from image_mlops.validation import batches

        s3 = aws_client("s3")
        return [o["key"] for o in batches.list_raw_objects(s3, get_settings().raw_bucket)]

    @task
    def validate_one(key: str) -> str:
        from image_mlops.aws import aws_client
        from image_mlops.config import get_settings
        from image_mlops.validation import mover
        from image_mlops.validation.checks import check_image

        settings, s3 = get_settings(), aws_client("s3")
        data = s3.get_object(Bucket=settings.raw_bucket, Key=key)["Body"].read()
        result = check_image(data, key)
        mover.copy_verified(
            s3, src_bucket=settings.raw_bucket, src_key=key,
            dst_bucket=settings.validated_bucket, dst_key=key,
            sha256=result.sha256, size=result.size, metadata={"sha256": result.sha256},
        )
        mover.delete(s3, settings.raw_bucket, key)
        return result.reason or "valid"

    validate_one.expand(key=list_keys())


bench_validate_per_image()
'''


def local_bytes(images: list[bytes]) -> None:
    from PIL import Image

    from image_mlops.validation.checks import CheckLimits, check_image
    from image_mlops.validation.validator import check_many, effective_workers

    n = len(images)
    limits = CheckLimits()
    start = time.perf_counter()
    results = [check_image(data, "x.jpg", limits) for data in images]
    ours_1 = n / (time.perf_counter() - start)
    assert all(r.valid for r in results)

    cores = effective_workers(0)
    from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

    with ThreadPoolExecutor(cores) as pool:  # what a validation batch uses
        start = time.perf_counter()
        check_many([(d, "x.jpg") for d in images], limits, pool)
        ours_pool = n / (time.perf_counter() - start)
    # the baseline: a process pool (which Celery's prefork workers and Lambda do not allow)
    with ProcessPoolExecutor(cores) as processes:
        list(processes.map(len, [b""] * cores))  # start the workers
        start = time.perf_counter()
        list(processes.map(check_image, images, ["x.jpg"] * n, [limits] * n, chunksize=8))
        processes_pool = n / (time.perf_counter() - start)

    start = time.perf_counter()
    for data in images:
        Image.open(io.BytesIO(data)).convert("RGB")
    naive = n / (time.perf_counter() - start)

    size = sum(map(len, images)) / n / 1024
    print(f"\n== from local bytes: {n} JPEGs 640x640, {size:.0f} KiB average, {cores} cores ==")
    print(f"our checks, 1 process          {ours_1:8.0f} images/s  (= per core)")
    print(
        f"our checks, {cores} threads          {ours_pool:8.0f} images/s  "
        f"({ours_pool / cores:.0f} per core)"
    )
    print(
        f"baseline: {cores} processes          {processes_pool:8.0f} images/s  "
        f"(threads / processes: {ours_pool / processes_pool:.2f})"
    )
    print(f"naive open + full decode       {naive:8.0f} images/s  (1 core)")
    print(f"speed-up per core              {ours_1 / naive:8.1f}x")


def airflow_runs(images: list[bytes], n: int) -> None:
    from image_mlops_dev.stack.manager import private_stack_environment
    from image_mlops_dev.stack.processes import free_port

    state = Path(tempfile.mkdtemp(prefix="image-mlops-bench-"))
    ports = free_port(), free_port(), free_port()
    os.environ.update(private_stack_environment(state, *ports))
    os.environ["IMAGE_MLOPS_VALIDATION_BATCH_SIZE"] = "200"
    from image_mlops.config import get_settings
    from image_mlops_dev.stack.manager import LocalStack

    stack = LocalStack(get_settings())
    os.environ.update(stack.airflow_environment(base={}))
    # dag.test() runs DAGs serialized from the dags folder: a private one with both DAGs.
    dags = Path(tempfile.mkdtemp(prefix="bench-dags-"))
    shutil.copy(ROOT / "dags/validate_images.py", dags)
    (dags / "bench_validate_per_image.py").write_text(PER_IMAGE_DAG)
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(dags)
    os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
    try:
        print("\nstarting a private stack (PostgreSQL, emulator, Airflow DB) ...", flush=True)
        stack.start_postgres()
        stack.start_emulator()
        stack.deploy_aws_side()
        stack.migrate_airflow()
        from airflow.dag_processing.dagbag import DagBag

        from image_mlops.aws import aws_client

        settings, s3 = get_settings(), aws_client("s3")
        rows = []
        bag = DagBag(dag_folder=str(dags))
        for dag_id in ("validate_images", "bench_validate_per_image"):
            for i in range(n):
                s3.put_object(
                    Bucket=settings.raw_bucket, Key=f"incoming/img-{i:04d}.jpg", Body=images[i]
                )
            dag = bag.get_dag(dag_id)
            start = time.perf_counter()
            run = dag.test()
            wall = time.perf_counter() - start
            tis = run.get_task_instances()
            rows.append((dag_id, run.state, len(tis), wall))
            for key in [
                o["Key"]
                for o in s3.list_objects_v2(Bucket=settings.validated_bucket).get("Contents", [])
            ]:
                s3.delete_object(Bucket=settings.validated_bucket, Key=key)
        print(f"\n== Airflow, {n} images (dag.test on a private stack) ==")
        print(f"{'DAG':<28}{'state':<10}{'task instances':>16}{'wall s':>9}")
        for dag_id, state, count, wall in rows:
            print(f"{dag_id:<28}{state:<10}{count:>16}{wall:>9.1f}")
    finally:
        stack.down(say=lambda _m: None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=400)
    parser.add_argument("--dag-images", type=int, default=40)
    parser.add_argument("--quick", action="store_true", help="100 images, 20 in the DAGs")
    parser.add_argument("--no-airflow", action="store_true", help="only the local-bytes part")
    args = parser.parse_args()
    if args.quick:
        args.images, args.dag_images = 100, 20
    from validation_corpus import photo_jpeg

    images = [photo_jpeg(seed) for seed in range(max(args.images, args.dag_images))]
    local_bytes(images[: args.images])
    if not args.no_airflow:
        airflow_runs(images, args.dag_images)


if __name__ == "__main__":
    main()

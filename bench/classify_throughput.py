"""Throughput of classify_images' batch step, without and with the round trips of AWS.

What limits classification on AWS is round-trip latency, not CPU per request: an S3 request
takes tens of milliseconds there and an endpoint invocation more, while the emulator on this
machine answers in about one. This benchmark measures both in one run: the emulator's
development option (``/_emulator/latency``) adds 0 ms, then 20 ms per S3 request and 30 ms
per endpoint invocation, and the ratio of the two throughputs shows how much of the latency
the batch step hides.

Starts a private stack (embedded PostgreSQL + the AWS emulator on free ports, temp state
folder; no Airflow services), deploys a production model (the emulator hosts its endpoint:
a model-server process), writes N validated 128 px images, then measures end to end — read,
input stats, ``InvokeEndpoint``, copy into the class folder, record in PostgreSQL:

* **batched**: the DAG's own functions (plan → classify every batch → run manifest), the
  batches spread over one worker process per core as the DAG's mapped ``classify_batch``
  tasks are under LocalExecutor. Workers are started and warmed (imports, S3 client, a first
  invocation) before the clock starts; the task instances a run needs are printed (one per
  batch, plus the fixed ones);
* **one image at a time**: the same steps, no pipelining (a warmed worker process).

The CPU of the workers, the emulator and the model server is printed with each figure (they
share the 2 cores; on AWS only the workers' would be on the worker machine), and the machine's
load average. The model is the trained artifact when ``include/scripts/inference.py`` exists,
else the tiny nearest-mean-colour artifact. Figures are printed, never asserted.

    .venv/bin/python bench/classify_throughput.py            # 2000 images, baseline 100
    .venv/bin/python bench/classify_throughput.py --quick    # 1000 images, baseline 60
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import random
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

# As the local stack sets them for Airflow's task processes (stack/manager.py), before numpy
# is imported here or in the spawned workers.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins"))
sys.path.insert(0, str(ROOT / "dev"))
sys.path.insert(0, str(ROOT / "tests"))


def private_environment(state: Path) -> None:
    """Point every setting at a private state folder and free ports (like tests/conftest.py)."""
    from image_mlops_dev.stack.manager import private_stack_environment
    from image_mlops_dev.stack.processes import free_port

    ports = free_port(), free_port(), free_port()
    os.environ.update(private_stack_environment(state, *ports))
    for key in [k for k in os.environ if k.startswith("IMAGE_MLOPS_") and k.endswith("_BUCKET")]:
        del os.environ[key]


def trained_artifact(work: Path) -> tuple[Path | None, str]:
    """Train the project's model on demo data; (None, why) when that is not possible."""
    inference = ROOT / "plugins/image_mlops/include/scripts" / "inference.py"
    train = ROOT / "plugins/image_mlops/include/scripts" / "train.py"
    if not inference.exists() or not train.exists():
        return None, "include/scripts/inference.py or train.py not present"
    try:
        from image_mlops_dev.demo_data import generate
    except ImportError:
        return None, "image_mlops_dev.demo_data not available"
    data, model_dir, output = work / "demo", work / "model", work / "output"
    generate(data, per_class=40, incoming=0)
    model_dir.mkdir()
    output.mkdir()
    env = {
        **os.environ,
        "SM_MODEL_DIR": str(model_dir),
        "SM_CHANNEL_TRAIN": str(data / "labeled"),
        "SM_CHANNEL_TRAINING": str(data / "labeled"),
        "SM_OUTPUT_DATA_DIR": str(output),
        "SM_HPS": "{}",
    }
    proc = subprocess.run(
        [sys.executable, str(train)], env=env, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        return None, f"train.py failed: {(proc.stderr or proc.stdout).strip()[-300:]}"
    archive = work / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(model_dir.rglob("*")):
            if path.is_file():
                tar.add(path, arcname=str(path.relative_to(model_dir)))
        if not any(n.startswith("code/") for n in tar.getnames()):
            for path in sorted((ROOT / "plugins/image_mlops/include/scripts").glob("*.py")):
                tar.add(path, arcname=f"code/{path.name}")
    return archive, "trained artifact (include/scripts/train.py on demo data)"


def images_128(count: int) -> list[tuple[str, bytes]]:
    """``count`` distinct 128×128 JPEG product-like images (demo drawings when available)."""
    from PIL import Image

    rng = random.Random(7)
    try:
        from image_mlops_dev.demo_data import CLASSES, draw_image

        def picture(i: int):
            return draw_image(CLASSES[i % len(CLASSES)], rng).resize((128, 128))
    except ImportError:

        def picture(i: int):
            colour = tuple(rng.randint(0, 255) for _ in range(3))
            return Image.new("RGB", (128, 128), colour)

    out = []
    for i in range(count):
        buffer = io.BytesIO()
        picture(i).save(buffer, "JPEG", quality=85)
        out.append((f"bench-{i:05d}.jpg", buffer.getvalue()))
    return out


#: (S3 ms, invocation ms): the emulator as it is, and round trips as users meet them on AWS.
LATENCIES = ((0.0, 0.0), (20.0, 30.0))
#: classify_images' tasks that are not mapped per batch.
FIXED_TASKS = 6


def set_latency(settings, s3_ms: float, invoke_ms: float) -> None:
    """The emulator's development option: added round-trip time (see emulator.AddedLatency)."""
    from image_mlops_dev.stack.identities import emulator_call

    emulator_call(
        "/_emulator/latency",
        method="POST",
        payload={"s3_ms": s3_ms, "invoke_ms": invoke_ms},
        settings=settings,
    )


def model_servers() -> list:
    """The emulator's model-server processes (the endpoint's instances)."""
    import psutil

    return [
        p
        for p in psutil.process_iter(["cmdline"])
        if "image_mlops_dev.emulator.containers" in (p.info["cmdline"] or [])
        and "serving" in (p.info["cmdline"] or [])
    ]


def load() -> str:
    return "load avg " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def baseline(names: list[str], model: dict, settings) -> float:
    """One image at a time: GET, stats, one invocation, COPY, one-row upsert, result line."""
    from image_mlops.classification import batches, classify, placement, records
    from image_mlops.classification.clients import client
    from image_mlops.classification.transform import runtime_predictor

    s3 = client("s3", settings)
    predictor = runtime_predictor(model, settings)
    lines = []
    started = time.perf_counter()
    for name in names:
        image = classify.fetch_one(s3, settings, {"key": "incoming/" + name})
        classify.analyse(image)
        classify.predict([image], predictor, settings.confidence_threshold)
        image.output_key = placement.target_key(image.key, image.label, image.uncertain)
        placement.place(
            s3,
            settings,
            placement.Placement(
                image.key, image.output_key, source_etag=image.etag, sha256=image.sha256
            ),
        )
        row = classify._row(image, model, "bench-baseline", "2026-01-01T00:00:00+00:00")
        records.upsert_predictions([row], settings)
        lines.append(classify._line(image, model, "2026-01-01T00:00:00+00:00"))
    batches.write_results("bench-baseline", 0, lines, settings)
    seconds = time.perf_counter() - started
    return len(names) / seconds


def warm_worker(model: dict) -> None:
    """A worker process as a task process is when it reaches the batch: imports, client, model."""
    from image_mlops.classification.clients import client
    from image_mlops.classification.transform import runtime_predictor
    from image_mlops.config import get_settings

    settings = get_settings()
    client("s3", settings)
    import airflow.providers.postgres.hooks.postgres  # noqa: F401 - the batch's DB driver

    runtime_predictor(model, settings)([images_128(1)[0][1]])


def worker_ready(_: int) -> int:
    time.sleep(1)  # one call per worker: every worker has finished warm_worker first
    return os.getpid()


def worker_pool(workers: int, model: dict):
    """``workers`` spawned, warmed processes (a fork would share the parent's connections).

    Returns (pool, the workers' pids)."""
    import multiprocessing

    pool = multiprocessing.get_context("spawn").Pool(
        workers, initializer=warm_worker, initargs=(model,)
    )
    pids = pool.map(worker_ready, range(workers), chunksize=1)
    return pool, pids


class CpuMeter:
    """CPU seconds spent during a measurement: the whole machine, and named processes."""

    def __init__(self, groups: dict[str, list]) -> None:
        import psutil

        self.psutil = psutil
        self.groups = groups

    def _sample(self) -> dict[str, float]:
        times = self.psutil.cpu_times()
        sample = {"machine": times.user + times.system + getattr(times, "nice", 0.0)}
        for name, processes in self.groups.items():
            sample[name] = sum(cpu_seconds(p) for p in processes)
        return sample

    def __enter__(self) -> CpuMeter:
        self.started, self.before = time.perf_counter(), self._sample()
        return self

    def __exit__(self, *_) -> None:
        after = self._sample()
        self.wall = time.perf_counter() - self.started
        self.used = {name: after[name] - self.before[name] for name in after}

    def summary(self) -> str:
        cores = os.cpu_count() or 1
        busy = self.used["machine"] / (self.wall * cores)
        named = sum(v for k, v in self.used.items() if k != "machine")
        parts = [f"{name} {self.used[name]:.2f} s" for name in self.groups]
        parts.append(f"everything else {self.used['machine'] - named:.2f} s")
        return f"{busy:.0%} of {cores} cores busy over {self.wall:.2f} s: " + ", ".join(parts)


def emulator_process(stack):
    """The emulator's process (psutil), to measure its CPU per call; None if not running."""
    import psutil

    pid = stack.emulator().pid()
    return psutil.Process(pid) if pid else None


def cpu_seconds(process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def classify_in_worker(batch: dict, model: dict, run_id: str) -> dict:
    from image_mlops.classification import run
    from image_mlops.config import get_settings

    return run.classify(get_settings(), batch, model, run_id)


def batched(model: dict, settings, batch_size: int, pool, run_id: str) -> tuple[float, dict, dict]:
    """The DAG's steps: plan → classify each batch (in ``pool``, or here) → run manifest."""
    from image_mlops.classification import run

    started = time.perf_counter()
    batch_list = run.plan(settings, model, run_id, batch_size)
    planned = time.perf_counter()
    if pool is None:
        results = [run.classify(settings, b, model, run_id) for b in batch_list]
    else:
        jobs = [pool.apply_async(classify_in_worker, (b, model, run_id)) for b in batch_list]
        results = [job.get() for job in jobs]
    classified = time.perf_counter()
    summary = run.finish(settings, run_id, results)
    finished = time.perf_counter()
    steps = {
        "plan": planned - started,
        "classify": classified - planned,
        "manifest": finished - classified,
        "batches": len(batch_list),
    }
    return summary["images"] / (finished - started), summary, steps


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000, help="images in the batch run")
    parser.add_argument("--baseline-images", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=0, help="0: the setting (256)")
    parser.add_argument("--quick", action="store_true", help="1000 images, baseline 60")
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="batch worker processes"
    )
    parser.add_argument(
        "--artifact",
        choices=("trained", "tiny"),
        default="trained",
        help="trained: include/scripts/train.py on demo data (when present); tiny: the "
        "nearest-mean-colour artifact (measures the pipeline without the model's cost)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.images, args.baseline_images = 1000, 60

    state = Path(tempfile.mkdtemp(prefix="image-mlops-bench-"))
    private_environment(state)
    from classify_fixtures import deploy_production_model

    from image_mlops.aws import aws_client
    from image_mlops.classification import records, run
    from image_mlops.config import get_settings
    from image_mlops_dev.stack.manager import LocalStack

    settings = get_settings()
    stack = LocalStack(settings)
    try:
        print("starting a private stack (PostgreSQL + AWS emulator) ...", flush=True)
        stack.start_postgres()
        stack.start_emulator()
        stack.deploy_aws_side()
        aws = SimpleNamespace(s3=aws_client("s3", settings), sagemaker=aws_client("sagemaker"))

        if args.artifact == "trained":
            archive, which = trained_artifact(state / "train")
        else:
            archive, which = None, "--artifact tiny"
        if archive is None:
            print(f"model: tiny nearest-mean-colour artifact ({which})")
        else:
            print(f"model: {which}")
        deploy_production_model(aws, settings, version=1, archive=archive)
        model = run.find_model(settings)

        images = images_128(args.images)
        with ThreadPoolExecutor(8) as pool:
            list(
                pool.map(
                    lambda item: aws.s3.put_object(
                        Bucket=settings.validated_bucket,
                        Key="incoming/" + item[0],
                        Body=item[1],
                        Metadata={"sha256": hashlib.sha256(item[1]).hexdigest()},
                    ),
                    images,
                )
            )
        print(f"{len(images)} validated 128 px JPEG images in s3://{settings.validated_bucket}/")
        records.ensure_predictions_table(settings)
        # this process plans the runs and is the 1-process run: warmed as the workers are
        # (S3 client, routes, database driver, the runtime's artifact download + model_fn)
        warm_worker(model)

        names = [name for name, _ in images[: args.baseline_images]]
        batch_size = args.batch_size or settings.classify_batch_size
        print(f"starting {args.workers} batch worker processes ...", flush=True)
        # In warmed worker processes like the batch workers, not in this one: this process
        # holds more objects (clients, the uploaded images), and its garbage collections
        # made each boto3 call slower.
        baseline_pool, _ = worker_pool(1, model)
        pool, pids = worker_pool(args.workers, model)
        import psutil

        emulator = emulator_process(stack)
        figures = []
        try:
            # one unmeasured run first: the first requests of each process (connections,
            # moto's and the model server's first calls) are not what a steady run meets
            batched(model, settings, batch_size, pool, "bench-warm-up")
            records._execute(settings, "TRUNCATE predictions")
            for s3_ms, invoke_ms in LATENCIES:
                set_latency(settings, s3_ms, invoke_ms)
                per_image = baseline_pool.apply(baseline, (names, model, settings))
                records._execute(settings, "TRUNCATE predictions")
                meter = CpuMeter(
                    {
                        "workers": [psutil.Process(pid) for pid in pids],
                        "emulator": [emulator] if emulator else [],
                        "model server": model_servers(),
                    }
                )
                load_batch = load()
                with meter:
                    per_batch, summary, steps = batched(
                        model, settings, batch_size, pool, f"bench-{s3_ms}-{invoke_ms}"
                    )
                records._execute(settings, "TRUNCATE predictions")  # all pending again
                figures.append((s3_ms, invoke_ms, per_image, per_batch, summary, steps, meter))
                print(
                    f"  {s3_ms:g} ms S3 + {invoke_ms:g} ms invocation: {per_batch:.1f} images/s "
                    f"({load_batch})",
                    flush=True,
                )
        finally:
            set_latency(settings, 0, 0)
            for worker_pool_ in (pool, baseline_pool):
                worker_pool_.close()
                worker_pool_.join()

        print()
        artifact = which if archive else f"tiny nearest-mean-colour artifact ({which})"
        print(f"model              : {artifact}")
        print(f"cores              : {os.cpu_count()} (the emulator and model server share them)")
        print(
            f"settings           : batches of {batch_size}, "
            f"{settings.classify_s3_threads} S3 requests at a time per batch task, one "
            "JSON request per chunk of images"
        )
        for s3_ms, invoke_ms, per_image, per_batch, summary, steps, meter in figures:
            print(
                f"--- added latency: {s3_ms:g} ms per S3 request, {invoke_ms:g} ms per invocation"
            )
            print(
                f"  batched, {args.workers} workers : {per_batch:8.1f} images/s  "
                f"({per_batch / args.workers:.1f} per worker process; {summary['images']} images: "
                f"{summary['classified']} classified, {summary['uncertain']} uncertain, "
                f"{summary['errors']} errors)"
            )
            print(
                "    of which          : "
                + ", ".join(
                    f"{step} {seconds:.2f} s"
                    for step, seconds in steps.items()
                    if step != "batches"
                )
            )
            print(f"    CPU               : {meter.summary()}")
            print(
                f"    task instances    : {steps['batches']} mapped classify_batch "
                f"(= ceil({summary['images']} / {batch_size})) + {FIXED_TASKS} fixed"
            )
            print(
                f"  one image at a time: {per_image:8.1f} images/s ({len(names)} images, "
                "one request after another)"
            )
        (_, _, _, at_zero, *_), (_, _, _, at_latency, *_) = figures
        print(
            f"ratio              : {at_latency / at_zero:.2f} (batched images/s with latency / "
            "without)"
        )
    finally:
        stack.down(say=lambda _m: None)
        shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main()

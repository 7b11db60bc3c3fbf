"""Throughput of classify_images' batch step against one invocation per image.

Starts a private stack (embedded PostgreSQL + the AWS emulator on free ports, temp state
folder; no Airflow services), deploys a production model, writes N validated 128 px images,
then measures end to end — read, input stats, predict, copy into the class folder, record in
PostgreSQL:

* **batch**: the DAG's own functions (plan → classify every batch → run manifest), the
  batches spread over one worker process per core as the DAG's mapped ``classify_batch``
  tasks are under LocalExecutor (and once more in a single process, for comparison); JSON
  batches through the local endpoint runtime. Workers are started and warmed (imports, S3
  client, model) before the clock starts;
* **baseline**: one image at a time, the same steps (GET, stats, one invocation, conditional
  COPY, one-row upsert, result line), no pipelining; in a worker process started and warmed
  as the batch workers are.

Both modes use the same model, runtime, emulator and database. Two ceilings are printed next
to them, to show where the time goes: the S3 calls alone (GET + COPY of the same images, one
process, as many at a time as the batch step makes them, nothing else) and our own work
alone (decode + stats + predict from memory, no S3, no database, one process). The
emulator's own CPU per call is printed too, and the CPU each process used in the batched run.
The machine's load average is printed with every figure (other sessions share the 2 cores).

The model is the trained artifact when ``include/scripts/inference.py`` exists (trained with
``include/scripts/train.py`` on demo data), else the tiny nearest-mean-colour artifact.
Figures are printed, never asserted.

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
    os.environ.update(private_stack_environment(state, *ports, placeholder="bench-placeholder"))
    for key in [k for k in os.environ if k.startswith("IMAGE_MLOPS_") and k.endswith("_BUCKET")]:
        del os.environ[key]


def trained_artifact(work: Path) -> tuple[Path | None, str]:
    """Train the project's model on demo data; (None, why) when that is not possible."""
    inference = ROOT / "include" / "scripts" / "inference.py"
    train = ROOT / "include" / "scripts" / "train.py"
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
            for path in sorted((ROOT / "include" / "scripts").glob("*.py")):
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
            placement.Placement(image.key, image.output_key, source_etag=image.etag),
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

    return run.classify(batch, model, run_id)


def batched(model: dict, settings, batch_size: int, pool, run_id: str) -> tuple[float, dict, dict]:
    """The DAG's steps: plan → classify each batch (in ``pool``, or here) → run manifest."""
    from image_mlops.classification import run

    started = time.perf_counter()
    batch_list = run.plan(model, run_id, batch_size, settings)
    planned = time.perf_counter()
    if pool is None:
        results = [run.classify(b, model, run_id, settings=settings) for b in batch_list]
    else:
        jobs = [pool.apply_async(classify_in_worker, (b, model, run_id)) for b in batch_list]
        results = [job.get() for job in jobs]
    classified = time.perf_counter()
    summary = run.finish(run_id, results, settings)
    finished = time.perf_counter()
    steps = {
        "plan": planned - started,
        "classify": classified - planned,
        "manifest": finished - classified,
    }
    return summary["images"] / (finished - started), summary, steps


def emulator_ceiling(names: list[str], settings, stack) -> tuple[float, float, float]:
    """GET + COPY of the images alone (one process; the batch step's client and threads).

    Returns (requests/s, images/s at two requests each, emulator CPU ms per request).
    """
    from image_mlops.classification.classify import s3_executor
    from image_mlops.classification.clients import client

    s3 = client("s3", settings)
    emulator = emulator_process(stack)

    def one(name: str) -> None:
        s3.get_object(Bucket=settings.validated_bucket, Key="incoming/" + name)["Body"].read()
        s3.copy_object(
            Bucket=settings.output_bucket,
            Key="_bench/ceiling/" + name,
            CopySource={"Bucket": settings.validated_bucket, "Key": "incoming/" + name},
        )

    cpu_before = cpu_seconds(emulator) if emulator else 0.0
    started = time.perf_counter()
    with s3_executor(settings, len(names)) as pool:
        list(pool.map(one, names))
    per_image = len(names) / (time.perf_counter() - started)
    cpu_ms = (cpu_seconds(emulator) - cpu_before) * 1000 / (2 * len(names)) if emulator else 0.0
    return 2 * per_image, per_image, cpu_ms


def own_work(images: list[bytes], model: dict, settings) -> float:
    """Decode + input stats + predict (JSON batches, in process), from memory: images/s."""
    from image_mlops.classification import classify
    from image_mlops.classification.transform import runtime_predictor

    predictor = runtime_predictor(model, settings)
    started = time.perf_counter()
    batch = [classify.Image(key=str(i), data=data) for i, data in enumerate(images)]
    for image in batch:
        classify.analyse(image)
    classify.predict(batch, predictor, settings.confidence_threshold)
    return len(images) / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000, help="images in the batch run")
    parser.add_argument("--baseline-images", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=0, help="0: the setting (256)")
    parser.add_argument("--quick", action="store_true", help="1000 images, baseline 60")
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="batch worker processes"
    )
    parser.add_argument("--profile", action="store_true", help="cProfile the batched run")
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
        stack.bootstrap_aws()
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
        # In a warmed worker process like the batch workers, not in this one: this process
        # holds more objects (clients, the uploaded images), and its garbage collections
        # made each boto3 call slower (measured: 94 vs 127 images/s).
        baseline_pool, _ = worker_pool(1, model)
        try:
            load_baseline = load()
            per_image = baseline_pool.apply(baseline, (names, model, settings))
            records._execute(settings, "TRUNCATE predictions")
        finally:
            baseline_pool.close()
            baseline_pool.join()

        batch_size = args.batch_size or settings.classify_batch_size
        print(f"starting {args.workers} batch worker processes ...", flush=True)
        started = time.perf_counter()
        pool, pids = worker_pool(args.workers, model)
        warm_up = time.perf_counter() - started
        load_batch = load()
        import psutil

        emulator = emulator_process(stack)
        meter = CpuMeter(
            {
                "workers": [psutil.Process(pid) for pid in pids],
                "emulator": [emulator] if emulator else [],
                "this process (plan, manifest)": [psutil.Process()],
            }
        )
        try:
            with meter:
                per_batch, summary, steps = batched(
                    model, settings, batch_size, pool, "bench-workers"
                )
        finally:
            pool.close()
            pool.join()
        records._execute(settings, "TRUNCATE predictions")  # every image is pending again
        if args.profile:
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            profiler.enable()
        load_single = load()
        per_single, single_summary, _ = batched(model, settings, batch_size, None, "bench-one")
        if args.profile:
            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
        load_ceiling = load()
        requests_per_s, emulator_images, emulator_ms = emulator_ceiling(
            [n for n, _ in images], settings, stack
        )
        load_own = load()
        own = own_work([data for _, data in images], model, settings)
        print()
        artifact = which if archive else f"tiny nearest-mean-colour artifact ({which})"
        print(f"model              : {artifact}")
        print(f"cores              : {os.cpu_count()}")
        print(
            f"per-image baseline : {per_image:8.1f} images/s  ({len(names)} images, S3 calls "
            f"through boto3; {load_baseline})"
        )
        print(
            f"batched, {args.workers} workers : {per_batch:8.1f} images/s  ({summary['images']} "
            f"images: {summary['classified']} classified, {summary['uncertain']} uncertain, "
            f"{summary['errors']} errors; batches of {batch_size}; {load_batch})"
        )
        print(
            "  of which          : "
            + ", ".join(f"{step} {seconds:.2f} s" for step, seconds in steps.items())
            + f" (worker start + warm-up before the clock: {warm_up:.1f} s)"
        )
        print(f"  CPU              : {meter.summary()}")
        print(
            f"batched, 1 process : {per_single:8.1f} images/s  ({single_summary['images']} "
            f"images; {load_single})"
        )
        print(f"speed-up           : {per_batch / per_image:8.1f}x ({args.workers} workers)")
        print(
            f"S3 calls alone     : {requests_per_s:8.1f} requests/s = {emulator_images:.1f} "
            f"images/s at GET + COPY each, one process, {settings.classify_s3_threads} at a time "
            f"({load_ceiling}); emulator CPU "
            f"{emulator_ms:.2f} ms per request"
        )
        print(
            f"our work alone     : {own:8.1f} images/s (decode + stats + predict from memory, "
            f"one process; {load_own})"
        )
    finally:
        stack.down(say=lambda _m: None)
        shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main()

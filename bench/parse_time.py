"""Parse time of every DAG file in dags/, against an empty DAG file (the baseline).

* cold: the file imported in a fresh interpreter, N times — everything it imports is counted
  (Airflow itself included, so the empty DAG's figure is the floor; "+ms vs empty" is what the
  file adds). This is what a dag-processor pays when it parses a file in a new process.
* warm: the file re-executed in one process whose imports are already loaded, M times — the
  cost of building the DAG object itself (what a long-lived parser pays per re-parse).

Figures are medians. No database is needed: Airflow's home and a SQLite URI point at a
temporary folder. Run with the project's virtualenv:

    .venv/bin/python bench/parse_time.py            # N=3 cold, M=20 warm (about a minute)
    .venv/bin/python bench/parse_time.py --quick    # N=1, M=5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DAGS = ROOT / "dags"

EMPTY_DAG = textwrap.dedent(
    '''
    """An empty DAG: the baseline of the parse-time benchmark."""
    import pendulum
    from airflow.sdk import dag, task


    @dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
    def empty_dag():
        @task
        def nothing():
            return None

        nothing()


    empty_dag()
    '''
)

# Times the import of one DAG file in this fresh interpreter, from before `import airflow`.
COLD_PROBE = textwrap.dedent(
    """
    import time
    started, cpu_started = time.perf_counter(), time.process_time()
    import importlib.util, json, sys
    spec = importlib.util.spec_from_file_location("dag_under_bench", sys.argv[1])
    module = importlib.util.module_from_spec(spec)
    sys.modules["dag_under_bench"] = module
    spec.loader.exec_module(module)
    print(json.dumps({
        "wall": (time.perf_counter() - started) * 1000,
        "cpu": (time.process_time() - cpu_started) * 1000,
    }))
    """
)

# Imports every file once, then re-executes each M times into a new module object.
WARM_PROBE = textwrap.dedent(
    """
    import importlib.util, json, sys, time
    repeats = int(sys.argv[1])
    results = {}
    for index, path in enumerate(sys.argv[2:]):
        times = []
        for attempt in range(repeats + 1):  # the first run loads the imports: not counted
            name = f"dag_under_bench_{index}_{attempt}"
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            started = time.process_time()
            spec.loader.exec_module(module)
            elapsed = (time.process_time() - started) * 1000
            del sys.modules[name]
            if attempt:
                times.append(elapsed)
        results[path] = times
    print(json.dumps(results))
    """
)


def _environment(state: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW", "IMAGE_MLOPS_")) and k != "PYTHONPATH"
    }
    env.update(
        {
            "AIRFLOW_HOME": str(state / "airflow"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{state / 'airflow.db'}",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            "IMAGE_MLOPS_STATE_DIR": str(state / "image-mlops"),
            "PYTHONPATH": str(ROOT / "plugins"),
            "PYTHONDONTWRITEBYTECODE": "0",
        }
    )
    return env


def _run(args: list[str], env: dict[str, str]) -> str:
    proc = subprocess.run(
        [sys.executable, *args], env=env, cwd=ROOT, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"parsing failed:\n{proc.stderr[-3000:]}")
    return proc.stdout.strip().splitlines()[-1]


def measure(files: list[Path], cold_runs: int, warm_runs: int, env: dict[str, str]) -> dict:
    cold: dict[Path, tuple[float, float]] = {}
    for path in files:
        runs = [json.loads(_run(["-c", COLD_PROBE, str(path)], env)) for _ in range(cold_runs)]
        cold[path] = (
            statistics.median(r["cpu"] for r in runs),
            statistics.median(r["wall"] for r in runs),
        )
        print(f"  cold {path.name}: {cold[path][0]:.0f} ms CPU", file=sys.stderr)
    warm_raw = json.loads(_run(["-c", WARM_PROBE, str(warm_runs), *map(str, files)], env))
    return {path: (*cold[path], statistics.median(warm_raw[str(path)])) for path in files}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", type=int, default=3, help="fresh-process parses per file")
    parser.add_argument("--warm", type=int, default=20, help="in-process parses per file")
    parser.add_argument("--quick", action="store_true", help="--cold 1 --warm 5")
    args = parser.parse_args(argv)
    if args.quick:
        args.cold, args.warm = 1, 5

    dag_files = sorted(p for p in DAGS.glob("*.py") if not p.name.startswith("_"))
    if not dag_files:
        raise SystemExit(f"no DAG files in {DAGS}")
    with tempfile.TemporaryDirectory(prefix="parse-time-") as tmp:
        state = Path(tmp)
        empty = state / "empty_dag.py"
        empty.write_text(EMPTY_DAG)
        env = _environment(state)
        # One throw-away import: Airflow writes its default config and .pyc files once.
        _run(["-c", COLD_PROBE, str(empty)], env)
        print(
            f"parsing {len(dag_files)} DAG files + the empty baseline: {args.cold} cold, "
            f"{args.warm} warm parses each",
            file=sys.stderr,
        )
        results = measure([empty, *dag_files], args.cold, args.warm, env)

    base_cold, _, base_warm = results[empty]
    print()
    header = f"{'file':<28} {'cold CPU ms':>11} {'(wall ms)':>10} {'warm ms':>8}"
    print(f"{header} {'cold vs empty':>14} {'warm vs empty':>14}")
    print("-" * 90)
    for path, (cold, wall, warm) in results.items():
        name = "empty DAG (baseline)" if path == empty else path.name
        print(
            f"{name:<28} {cold:>11.0f} {wall:>10.0f} {warm:>8.1f} {cold - base_cold:>+12.0f}ms "
            f"{warm / base_warm:>13.1f}x"
        )
    print()
    print(
        f"cold = median of {args.cold} imports in a fresh interpreter, Airflow's own import "
        f"included (CPU time; wall time depends on the machine's load); warm = median CPU "
        f"time of {args.warm} re-executions with the imports cached (building the DAG)."
    )


if __name__ == "__main__":
    main()

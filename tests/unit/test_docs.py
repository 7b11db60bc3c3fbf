"""The documentation site: a strict build, the generated reference, a short README, and
nothing named in the docs that does not exist (commands, targets, settings, Params, figures)."""

from __future__ import annotations

import argparse
import html
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from image_mlops.config import describe_settings
from image_mlops_dev.docs_hooks import EMPTY, command_names

ROOT = Path(__file__).resolve().parents[2]
README_LIMIT = 250


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "WARNING" not in proc.stderr, proc.stderr
    return out


def _text(page: Path) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", page.read_text()))


def test_the_settings_reference_is_every_setting_with_its_default(site):
    text = _text(site / "reference" / "settings" / "index.html")
    for variable, default, _doc in describe_settings():
        shown = default if default != "" else EMPTY.strip("*")
        assert re.search(rf"{re.escape(variable)}\s+{re.escape(shown)}\s", text), variable


def test_the_cli_reference_has_every_command_and_its_help(site):
    text = _text(site / "reference" / "cli" / "index.html")
    names = command_names()
    assert {"image-mlops stack up", "image-mlops train", "image-mlops predict"} <= set(names)
    for name in names:
        assert f"usage: {name}" in text, name
    assert "--executor {local,celery}" in text


def test_every_page_of_the_site_is_in_its_navigation(site):
    pages = {p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs").rglob("*.md")}
    nav = (ROOT / "mkdocs.yml").read_text()
    assert {p for p in pages if p not in nav} == set()


def test_the_readme_is_short_and_its_links_exist():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= README_LIMIT
    assert "make demo" in readme and "make test" in readme
    targets = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme)
    assert targets
    missing = [t for t in targets if "://" not in t and not (ROOT / t).exists()]
    assert missing == []
    assert "../shared" not in readme  # nothing outside the repository


# --- Everything the docs name exists -----------------------------------------------------------
#
# The README, every page under docs/ and .env.example are read as a newcomer reads them, and
# what they name is looked up in the code, never in a list kept by hand:
#
# * an `image-mlops …` command (a code span or a line of a code block whose command word is
#   image-mlops): each sub-command word, each --option and each positional choice, in the
#   CLI's argparse parser;
# * a `make X` command: each target, in the Makefile;
# * an IMAGE_MLOPS_* name, anywhere in the text: a setting (a field of a settings dataclass,
#   image_mlops.config's or another's), or a name the code holds as a whole string (the
#   model's environment, the local stack's secrets, the emulator's knobs: Python under
#   plugins/, dev/, dags/ and tests/conftest.py), or one the compose file, the Dockerfile or
#   .ci/run reads;
# * a DAG parameter, where the docs name one: the first column of a table headed "Param", the
#   code spans after "Param:"/"Params:", "the Param `x`", "`x` Param", and the top-level keys
#   of a run's conf (`--conf '{…}'`, `"conf": {…}`, `conf={…}`, conf `{…}`): a Param of the
#   DAG the line triggers or the section's heading names, else of some DAG;
# * a file of the repository (bench/x.py, tests/…, image_mlops/…): it exists;
# * a dotted name in our packages (image_mlops.registry.code_version): it imports;
# * a measured figure: a number with a unit of time, rate or size (ms, s, min, images/s,
#   rows/s, MiB, GiB, …) in a paragraph or list item that says "measured"/"timed" or gives it
#   as approximate (≈, ~), or in a table row whose header or section says so. It names the
#   command that produced it: a bench/ script or a pytest run of an existing file, in the
#   same block or earlier in its section, or a make target in the same block (or the sentence
#   ending in a colon that introduces it). docs/tests.md states the rule for writers.

DOC_FILES = [
    ROOT / "README.md",
    ROOT / ".env.example",
    *sorted(p for p in (ROOT / "docs").rglob("*.md")),
]
FENCE = re.compile(r"^[ \t]*```[^\n]*\n(.*?)^[ \t]*```", re.M | re.S)
SPAN = re.compile(r"(?<!`)`([^`\n]+(?:\n[^`\n]+)?)`(?!`)")
SETTING_NAME = re.compile(r"\bIMAGE_MLOPS_[A-Z0-9_]*[A-Z0-9]\b")
SHELL_BREAK = re.compile(r"\$\(|&&|\|\||[;|()`]")
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=\S*$")
PLACEHOLDER = re.compile(r"^(<.*>|[A-Z][A-Z_]*|\.\.\.|…)$")


def code_texts(text: str) -> list[str]:
    """Each line of each fenced code block, and each inline code span (a span may wrap once)."""
    lines: list[str] = []
    for block in FENCE.findall(text):
        lines += re.sub(r"\\\n\s*", " ", block).splitlines()
    prose = FENCE.sub("", text)
    lines += [span.replace("\n", " ").replace("# ", " ") for span in SPAN.findall(prose)]
    return lines


def shell_commands(line: str) -> list[list[str]]:
    """The words of each simple command in a line: `eval "$(x y)"` gives [eval …] and [x, y]."""
    line = re.sub(r"(^|\s)#.*$", "", line)  # a comment
    commands = []
    for part in SHELL_BREAK.split(line):
        words = [w.strip("\"'") for w in part.split()]
        # a diagram's arrow ends the command (`make mwaa-bundle ──► s3://…`)
        words = words[: next((i for i, w in enumerate(words) if not w.isascii()), len(words))]
        while words and (
            words[0] in ("$", "time", "eval", "sudo", "exec") or ASSIGNMENT.match(words[0])
        ):
            words = words[1:]
        if words:
            commands.append(words)
    return commands


def cli_parsers() -> dict[str, argparse.ArgumentParser]:
    """Every command and sub-command's parser, by its name (``image-mlops stack up``)."""
    from image_mlops.cli import build_parser

    parsers = {"image-mlops": build_parser()}
    todo = ["image-mlops"]
    while todo:
        name = todo.pop()
        for action in parsers[name]._actions:  # argparse has no public accessor for sub-parsers
            if isinstance(action, argparse._SubParsersAction):
                for word, sub in action.choices.items():
                    parsers[f"{name} {word}"] = sub
                    todo.append(f"{name} {word}")
    return parsers


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {option: action for action in parser._actions for option in action.option_strings}


def check_cli(words: list[str], parsers: dict[str, argparse.ArgumentParser]) -> list[str]:
    """What is wrong with `image-mlops <words>`: an unknown sub-command or option, or a
    positional argument outside its choices (`image-mlops upload labelled`)."""
    path, options, problems = "image-mlops", _options(parsers["image-mlops"]), []
    positionals: list[argparse.Action] = []
    words = [w.strip("[]{},") for w in words]
    words = [w for w in words if w]
    while words:
        word = words.pop(0)
        if word.startswith("-"):
            option = word.split("=")[0]
            if option.startswith("--") and option not in options:
                problems.append(f"`{path}` has no option {option}")
            elif option in options and options[option].nargs != 0 and "=" not in word and words:
                words.pop(0)  # its value
            continue
        if PLACEHOLDER.match(word):
            break  # `image-mlops stack COMMAND`, `image-mlops validate DIR …`
        if not any(name.startswith(path + " ") for name in parsers):
            if positionals:  # a leaf command's positional argument
                action = positionals.pop(0)
                if action.choices and word not in action.choices:
                    problems.append(
                        f"`{path}` takes {', '.join(action.choices)} as {action.dest}, not {word}"
                    )
            continue
        if not re.match(r"^[a-z][a-z0-9-]*$", word):
            break
        if f"{path} {word}" not in parsers:
            problems.append(f"`{path} {word}` is no command")
            break
        path = f"{path} {word}"
        options |= _options(parsers[path])
        positionals = [
            a
            for a in parsers[path]._actions
            if not a.option_strings and not isinstance(a, argparse._SubParsersAction)
        ]
    return problems


def make_targets() -> set[str]:
    makefile = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([a-zA-Z0-9][a-zA-Z0-9_.-]*):(?!=)", makefile, re.M))


def check_make(words: list[str], targets: set[str]) -> list[str]:
    named = [
        w for w in words if not w.startswith("-") and "=" not in w and not PLACEHOLDER.match(w)
    ]
    return [f"`make {t}` is no target of the Makefile" for t in named if t not in targets]


def known_setting_names() -> set[str]:
    """The settings (image_mlops.config's, and any other dataclass of settings: a field whose
    default is ``setting(...)`` is read as IMAGE_MLOPS_<FIELD>), and every IMAGE_MLOPS_* name
    the code holds as a whole string."""
    import ast

    from image_mlops.config import describe_settings

    names = {variable for variable, _default, _doc in describe_settings()}
    # what the container stack and CI read: ${IMAGE_MLOPS_X} / $IMAGE_MLOPS_X
    for path in [ROOT / "docker-compose.yaml", ROOT / "Dockerfile", ROOT / ".ci" / "run"]:
        names |= set(re.findall(r"\$\{?(IMAGE_MLOPS_[A-Z0-9_]+)", path.read_text()))
    files = [
        *(ROOT / "plugins").rglob("*.py"),
        *(ROOT / "dev").rglob("*.py"),
        *(ROOT / "dags").rglob("*.py"),
        ROOT / "tests" / "conftest.py",
    ]
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            value = node.value if isinstance(node, ast.Constant) else None
            if isinstance(value, str) and re.fullmatch(r"IMAGE_MLOPS_[A-Z0-9_]+", value):
                names.add(value)
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and isinstance(node.value, ast.Call)
                and getattr(node.value.func, "id", None) in ("setting", "_setting")
            ):
                names.add("IMAGE_MLOPS_" + node.target.id.upper())
    return names


def dag_params() -> dict[str, set[str]]:
    """Each DAG's Params, as the dag-processor parses the files (no database needed)."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert bag.import_errors == {}
    return {dag_id: set(dag.params.keys()) for dag_id, dag in bag.dags.items()}


#: A file of the repository, from its root or inside a package (image_mlops/…, image_mlops_dev/…).
REPO_PATH = re.compile(
    r"(?<![\w/.-])(?:bench|tests|dags|plugins|dev|docs|infra|constraints|docker|\.ci|\.github"
    r"|image_mlops|image_mlops_dev)/[\w/.-]+\.(?:py|json|ya?ml|sql|md|txt|sh)\b"
)
#: A dotted name in our packages: image_mlops.registry.code_version, image_mlops_dev.….
PYTHON_NAME = re.compile(r"(?<![\w.])(image_mlops(?:_dev)?(?:\.[A-Za-z_][A-Za-z0-9_]*)+)")


def python_name_exists(dotted: str) -> bool:
    """The longest importable module of ``dotted``, then attributes down the rest."""
    import importlib

    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        module_name = ".".join(parts[:cut])
        try:
            value = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if not f"{module_name}.".startswith(f"{exc.name}."):
                raise  # the module exists and fails to import: that surfaces
            continue
        for attribute in parts[cut:]:
            if not hasattr(value, attribute):
                return False
            value = getattr(value, attribute)
        return True
    return False


IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


def named_params(text: str, dag_ids: set[str]) -> list[tuple[str, str | None]]:
    """(parameter, its DAG if the text says which) for every parameter the text names.

    The DAG is the one a heading names for its section; for a run's conf, the one the same
    line starts (`dags trigger X`, `/dags/X/dagRuns`) before that.
    """
    found: list[tuple[str, str | None]] = []
    dag_pattern = "|".join(sorted(dag_ids))
    section: str | None = None
    for block in re.split(r"\n\s*\n", text):
        if heading := re.match(r"#+ .*", block.lstrip()):
            named = re.findall(rf"\b({dag_pattern})\b", heading.group())
            section = named[-1] if named else None
        rows = block.splitlines()
        if rows and re.match(r"\|\s*Params?\s*\|", rows[0]):
            for row in rows[2:]:
                if cell := re.match(r"\|\s*`([^`]+)`", row):
                    found.append((cell.group(1), section))
        for listed in re.findall(
            r"(?:\*\*)?Params?(?:\*\*)?:\s*((?:`[a-z_0-9]+`[^`]*?(?:\([^)]*\))?[,.]?\s*(?:and\s+)?)+)",
            block,
        ):
            names = re.findall(r"(?:^|[,.]\s*|and\s+)`([a-z_0-9]+)`", listed)
            found += [(name, section) for name in names if IDENTIFIER.match(name)]
        for the_param, param_after in re.findall(
            r"the Param `([a-z_0-9]+)`|`([a-z_0-9]+)` Param\b", block
        ):
            found.append((the_param or param_after, section))
        for line in block.splitlines():
            for start in re.finditer(r"(?:--conf\s+'|\"conf\":\s*|conf=|conf `)(?=\{)", line):
                target = re.search(rf"(?:dags trigger |/dags/)({dag_pattern})\b", line)
                dag = target.group(1) if target else section
                found += [(key, dag) for key in top_level_keys(line[start.end() :])]
    return found


def top_level_keys(text: str) -> list[str]:
    """The keys of the JSON object ``text`` starts with (not those of objects inside it)."""
    keys, depth = [], 0
    for match in re.finditer(r"[{}]|\"([A-Za-z_0-9]+)\"\s*:", text):
        if match.group() == "{":
            depth += 1
        elif match.group() == "}":
            depth -= 1
            if depth == 0:
                break
        elif depth == 1:
            keys.append(match.group(1))
    return keys


#: A measured figure: a number with a unit of time, rate or size, in a block (a paragraph, a
#: list item, a table) that says the number was measured or gives it as approximate.
FIGURE_UNIT = re.compile(
    r"\d(?:[\d,.]*\d)?\s*(?:ms|s|min|minutes|images/s|rows/s|/s|GiB|MiB|MB|KiB)\b"
    r"|\d[\d,. ]*\s(?:[a-z]+\s)?(?:rows|images|requests|calls)/s\b"
)
FIGURE_WORD = re.compile(r"\bmeasur(?:ed|es)\b|\btimed\b|[≈~]\s?\d", re.I)


def figure_commands(section: str, near: str, targets: set[str]) -> list[str]:
    """The commands that measure and exist, named for a figure: a bench/ script or a pytest run
    of an existing file anywhere in its section so far; a make target only ``near`` it (its
    own block, its table's header, the sentence ending in a colon that introduces it), as
    most make targets measure nothing (a page that says `make clean` has not said where its
    figures come from)."""
    commands = [s for s in re.findall(r"\bbench/[a-z_]+\.py\b", section) if (ROOT / s).exists()]
    for text, allowed in ((section, {"pytest"}), (near, {"pytest", "make"})):
        for line in code_texts(text):
            for words in shell_commands(line):
                head = words[0].rsplit("/", 1)[-1]
                if head not in allowed or len(words) < 2:
                    continue
                made = head == "make" and not check_make(words[1:], targets)
                tested = head == "pytest" and any((ROOT / w.split("::")[0]).exists() for w in words)
                if made or tested:
                    commands.append(" ".join(words))
    return commands


def figure_blocks(text: str) -> list[tuple[str, str, str]]:
    """(its section up to it, what is near it, figure) for every measured figure: a paragraph
    or list item, or a table's row (the table's header and section may say that its figures
    were measured)."""
    out, section, before = [], "", ""
    prose = FENCE.sub(lambda m: m.group().replace("\n\n", "\n"), text)
    for block in re.split(r"\n\s*\n|\n(?=[*-] )", prose):
        if re.match(r"#+ ", block.lstrip()):
            section = ""
        if block.lstrip().startswith("|"):
            header = block.splitlines()[0]
            said = FIGURE_WORD.search(section + header)
            for row in block.splitlines()[2:]:
                if FIGURE_UNIT.search(row) and (said or FIGURE_WORD.search(row)):
                    out.append((f"{section}\n{header}", f"{before}\n{header}\n{row}", row))
        elif FIGURE_UNIT.search(FENCE.sub("", block)) and FIGURE_WORD.search(block):
            out.append((section, f"{before}\n{block}", block))
        section += "\n" + block
        before = block if block.rstrip().endswith(":") else ""  # a sentence introducing it
    return out


def doc_problems(name: str, text: str, context) -> list[str]:
    """Everything ``text`` names that does not exist, one line each (``name``: where)."""
    parsers, targets, settings, params = context
    problems = []
    for line in code_texts(text):
        for words in shell_commands(line):
            head = words[0].rsplit("/", 1)[-1]
            if head == "image-mlops":
                problems += check_cli(words[1:], parsers)
            elif head == "make":
                problems += check_make(words[1:], targets)
    for dotted in sorted(set(PYTHON_NAME.findall(text))):
        if not python_name_exists(dotted.rstrip(".")):
            problems.append(f"{dotted.rstrip('.')} is no module or attribute of the code")
    for path in sorted(set(REPO_PATH.findall(text))):
        if not any((ROOT / root / path).exists() for root in ("", "plugins", "dev")):
            problems.append(f"{path} is no file of the repository")
    problems += [
        f"{variable} is no setting and nothing reads it"
        for variable in sorted(set(SETTING_NAME.findall(text)) - settings)
    ]
    for param, dag in named_params(text, set(params)):
        owners = [dag] if dag else list(params)
        if not any(param in params[owner] for owner in owners):
            problems.append(f"`{param}` is no Param of {dag or 'any DAG'}")
    if name.endswith(".md"):
        for section, near, block in figure_blocks(text):
            if not figure_commands(f"{section}\n{block}", near, targets):
                first = next(line for line in block.splitlines() if FIGURE_UNIT.search(line))
                problems.append(f"a figure names no command that produced it: {first.strip()[:90]}")
    return [f"{name}: {problem}" for problem in problems]


@pytest.fixture(scope="module")
def named_things():
    return cli_parsers(), make_targets(), known_setting_names(), dag_params()


def test_every_command_target_setting_parameter_and_figure_the_docs_name_exists(named_things):
    problems = []
    for path in DOC_FILES:
        problems += doc_problems(path.relative_to(ROOT).as_posix(), path.read_text(), named_things)
    assert problems == [], "\n".join(problems)


def test_the_docs_check_reports_what_does_not_exist(named_things):
    made_up = """
# The `deploy_model` DAG

Reset with `image-mlops catalog reset`, or `image-mlops catalog load-sample --wipe`, then
`make deploy-everything`. Set `IMAGE_MLOPS_NOPE=1`. `image-mlops upload labelled ./pictures`.
See `bench/nope.py` and `image_mlops.deployment.packages.Candidate`.

| Param | default | meaning |
|---|---|---|
| `model_package` | empty | real |
| `canary_size` | 1 | made up |

```bash
airflow dags trigger classify_images --conf '{"batch_size": 64, "batch_sise": 1}'
airflow dags trigger train_and_register --conf '{"hyperparameters": {"C": 0.01}}'
```

Validation checks ≈ 9,999 images/s per core.

## Stopping

`make down` stops the stack.

Classification measured 9,999 images/s.
"""
    assert doc_problems("made-up.md", made_up, named_things) == [
        "made-up.md: `image-mlops catalog reset` is no command",
        "made-up.md: `image-mlops catalog load-sample` has no option --wipe",
        "made-up.md: `make deploy-everything` is no target of the Makefile",
        "made-up.md: `image-mlops upload` takes feedback, incoming, labeled as area, not labelled",
        "made-up.md: image_mlops.deployment.packages.Candidate is no module or attribute "
        "of the code",
        "made-up.md: bench/nope.py is no file of the repository",
        "made-up.md: IMAGE_MLOPS_NOPE is no setting and nothing reads it",
        "made-up.md: `canary_size` is no Param of deploy_model",
        "made-up.md: `batch_sise` is no Param of classify_images",
        "made-up.md: a figure names no command that produced it: "
        "Validation checks ≈ 9,999 images/s per core.",
        "made-up.md: a figure names no command that produced it: "
        "Classification measured 9,999 images/s.",
    ]
    real = made_up.replace("Validation checks ≈", "`bench/validation_throughput.py` measured")
    real = real.replace("Classification measured", "`make bench` measured")
    made_up_lines = r"(?s)Reset with.*?Candidate`\.|\| `canary_size`[^\n]*\n|, \"batch_sise\": 1"
    real = re.sub(made_up_lines, "", real)
    assert doc_problems("made-up.md", real, named_things) == []

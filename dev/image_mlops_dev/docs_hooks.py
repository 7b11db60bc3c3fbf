"""MkDocs hooks: the settings and command-line reference pages, generated from the code.

``mkdocs.yml`` names this file under ``hooks:``. A page holding ``<!-- generated: settings -->``
gets the table of :func:`image_mlops.config.describe_settings`; one holding
``<!-- generated: cli -->`` gets every ``image-mlops`` command's ``--help``, as argparse prints
it. Neither can drift from the code: they are the code's own words at build time.
"""

from __future__ import annotations

import argparse
import os

SETTINGS_MARK = "<!-- generated: settings -->"
STACK_SETTINGS_MARK = "<!-- generated: stack-settings -->"
CLI_MARK = "<!-- generated: cli -->"
#: how an empty default shows in the settings table
EMPTY = "*(empty)*"


def settings_table(rows: list[tuple[str, str, str]] | None = None) -> str:
    """The table of ``rows`` (variable, default, meaning): by default the deployment settings."""
    from image_mlops.config import describe_settings

    lines = [
        f"| `{name}` | {f'`{default}`' if default != '' else EMPTY} | {doc} |"
        for name, default, doc in (describe_settings() if rows is None else rows)
    ]
    return "\n".join(["| variable | default | meaning |", "|---|---|---|", *lines])


def _commands(parser: argparse.ArgumentParser, prefix: str):
    """(``image-mlops stack up``, its parser) for every command and sub-command, in order."""
    for action in parser._actions:  # argparse has no public accessor for its sub-parsers
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield f"{prefix} {name}", sub
                yield from _commands(sub, f"{prefix} {name}")


def cli_reference() -> str:
    from image_mlops.cli import build_parser

    os.environ["COLUMNS"] = "100"  # argparse wraps its help to the terminal's width
    parser = build_parser()
    parts = ["## image-mlops", "", "```text", parser.format_help().rstrip(), "```"]
    for name, sub in _commands(parser, "image-mlops"):
        parts += ["", f"## {name}", "", "```text", sub.format_help().rstrip(), "```"]
    return "\n".join(parts)


def command_names() -> list[str]:
    """Every command and sub-command (``image-mlops stack up``, …): what the page must show."""
    from image_mlops.cli import build_parser

    return [name for name, _ in _commands(build_parser(), "image-mlops")]


def on_page_markdown(markdown: str, page, config, files) -> str:
    if SETTINGS_MARK in markdown:
        markdown = markdown.replace(SETTINGS_MARK, settings_table())
    if STACK_SETTINGS_MARK in markdown:
        from image_mlops_dev.stack.settings import describe_stack_settings

        markdown = markdown.replace(STACK_SETTINGS_MARK, settings_table(describe_stack_settings()))
    if CLI_MARK in markdown:
        markdown = markdown.replace(CLI_MARK, cli_reference())
    return markdown

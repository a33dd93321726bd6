"""MkDocs hooks of the manual: the results pages join the site as they are committed, and the pages that would
otherwise be copied from the code (the JSON Schemas, every command's --help) are rendered from it at build time."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from contextlib import redirect_stdout
from pathlib import Path

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "results"
PLACEHOLDERS = {"<!-- mnist-ref: schemas -->": "schemas", "<!-- mnist-ref: commands -->": "commands"}
HELP_WIDTH = "100"


def on_files(files, config):
    """Every committed file under results/ (pages, plots, the JSON they come from) at results/ in the site."""
    # Pages are the results pages themselves; a markdown file deeper down (a run's compare.md) is a run's artifact.
    for path in sorted(
        p
        for p in RESULTS.rglob("*")
        if p.is_file() and not p.name.startswith(".") and not (p.suffix == ".md" and p.parent != RESULTS)
    ):
        relative = path.relative_to(ROOT).as_posix()
        if files.get_file_from_path(relative) is None:
            files.append(File(relative, str(ROOT), config["site_dir"], config["use_directory_urls"]))
    return files


def on_page_markdown(markdown, page, config, files):
    """The generated sections, where a page asks for them."""
    for marker, kind in PLACEHOLDERS.items():
        if marker in markdown:
            markdown = markdown.replace(marker, RENDERERS[kind]())
    return markdown


def schemas() -> str:
    """Each results file's JSON Schema, as mnist_ref.store.schema holds it."""
    from mnist_ref.store import schema

    ids = {
        "bench": ", ".join(schema.BENCH_SCHEMAS),
        "sweep": schema.SWEEP_SCHEMA,
        "run record": schema.RUN_SCHEMA,
        "oracle result": schema.ORACLE_SCHEMA,
    }
    parts = []
    for kind, document in schema.SCHEMAS.items():
        parts += [
            f"## The {kind} file",
            "",
            f"Schema ID: `{ids[kind]}`.",
            "",
            "```json",
            json.dumps(document, indent=2),
            "```",
            "",
        ]
    return "\n".join(parts)


def _help(argv: list[str]) -> str:
    from mnist_ref import cli

    out = io.StringIO()
    os.environ["COLUMNS"] = HELP_WIDTH
    with redirect_stdout(out):
        try:
            cli.main([*argv, "--help"])
        except SystemExit:
            pass
    return out.getvalue().rstrip()


def bench_options() -> str:
    """The bench plugin's own options, as `pytest bench --help` prints them."""
    env = {**os.environ, "COLUMNS": HELP_WIDTH}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "bench", "--help", "-p", "no:cacheprovider"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
        check=True,
    )
    text = proc.stdout
    start = text.index("mnist-ref benchmark matrix:")
    end = text.find("\n\n", start)
    return text[start : end if end > 0 else None].rstrip()


def commands() -> str:
    """`mnist-ref --help`, each command's, and the bench's options."""
    from mnist_ref.cli import command_names

    parts = ["## mnist-ref", "", "```text", _help([]), "```", ""]
    for name in command_names():
        parts += [f"## mnist-ref {name}", "", "```text", _help([name]), "```", ""]
    parts += ["## pytest bench/ (the bench's options)", "", "```text", bench_options(), "```", ""]
    return "\n".join(parts)


RENDERERS = {"schemas": schemas, "commands": commands}

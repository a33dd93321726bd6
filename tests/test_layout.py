"""The package's layers: every import points down (mnist_ref.LAYERS), and the manual's "Layout" (docs/layout.md) names
them in that order."""

from __future__ import annotations

import ast
import re
import subprocess
import sys

import pytest
from helpers import ROOT

import mnist_ref

PACKAGE = ROOT / "mnist_ref"
SHELL = {"cli", "__main__"}
RANK = {name: rank for rank, layer in enumerate(mnist_ref.LAYERS) for name in layer}


def imported_modules(path) -> list[tuple[int, str]]:
    """(line, dotted name) of every mnist_ref import in a file, module level or inside functions."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("mnist_ref")]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mnist_ref"):
            found += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return found


def package_of(dotted: str) -> str | None:
    """The top-level part of mnist_ref a dotted name falls in: a subpackage, a shell module, or None (the root)."""
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 else None


def violations() -> list[str]:
    """Every import from a higher layer or a sibling package of the same layer."""
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        own = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        if own in SHELL:
            continue
        for line, name in imported_modules(path):
            target = package_of(name)
            if target in (None, "__version__", "LAYERS") or target == own:
                continue
            if own == "__init__" or target in SHELL or RANK[target] >= RANK[own]:
                out.append(f"{path.relative_to(ROOT)}:{line} ({own}) imports {name} ({target})")
    return out


def test_every_module_lives_in_a_layer():
    loose = [p.name for p in PACKAGE.glob("*.py") if p.stem not in SHELL | {"__init__"}]
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert loose == [], "every module belongs to a subpackage named in mnist_ref.LAYERS"
    assert folders == set(RANK), f"packages and mnist_ref.LAYERS differ: {sorted(folders ^ set(RANK))}"


def test_every_import_points_down():
    assert violations() == []


def test_the_check_sees_an_upward_import(tmp_path, monkeypatch):
    """A stray import from core up to scale is caught (the check can fail)."""
    bad = PACKAGE / "core" / "_upward_probe.py"
    bad.write_text("from mnist_ref.scale import data_parallel\n")
    try:
        assert violations() == [
            "mnist_ref/core/_upward_probe.py:1 (core) imports mnist_ref.scale.data_parallel (scale)"
        ]
    finally:
        bad.unlink()


def test_the_manuals_layout_names_the_layers_in_order():
    text = (ROOT / "docs" / "layout.md").read_text()
    section = text.split("# Layout\n", 1)[1].split("\n## ", 1)[0]
    named = [m for m in re.findall(r"`mnist_ref/(\w+)/`", section)]
    assert [p for p in named if p in RANK] == [p for layer in mnist_ref.LAYERS for p in layer]


def test_paths_beside_the_package_resolve_from_any_folder(tmp_path, monkeypatch):
    """Modules one level deeper than before still find the checkout: its bench/, its committed baseline."""
    from mnist_ref.gate import baseline
    from mnist_ref.plumbing.checkout import CHECKOUT

    monkeypatch.chdir(tmp_path)
    assert CHECKOUT == ROOT and (CHECKOUT / "bench" / "conftest.py").is_file()
    assert baseline.default_dir().resolve() == ROOT / "results" / "baseline"


RAW_BENCHMARK = re.compile(r"""\[["'](stats|extra_info)["']\]|extra_info\[|\.get\(["'](stats|extra_info)["']""")


def test_raw_benchmark_dicts_stay_in_the_store():
    """Outside mnist_ref/store/ (and the bench's writer, which fills pytest-benchmark's own objects), results are read
    through the typed view (store.measured.Measured), never by subscripting pytest-benchmark's dicts."""
    found = [
        f"{p.relative_to(ROOT)}:{n}"
        for p in sorted(PACKAGE.rglob("*.py"))
        if "store" not in p.relative_to(PACKAGE).parts
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if RAW_BENCHMARK.search(line)
    ]
    assert found == [], "read benchmarks through mnist_ref.store.measured"


def test_the_typed_view_knows_every_field_the_schema_allows():
    """A field added to the bench schema's extra_info must be added to store.measured.Info (and the other way round)."""
    import dataclasses

    from mnist_ref.store import measured, schema

    assert {f.name for f in dataclasses.fields(measured.Info)} == set(schema._EXTRA_INFO["properties"])


@pytest.mark.slow
def test_the_cli_imports_no_framework_until_a_command_asks_for_one():
    """cli.py imports everything at its top (docs/layout.md): that stays cheap only while no module of the package
    imports a framework, Dask or matplotlib when it is imported."""
    heavy = ("tensorflow", "keras", "jax", "torch", "dask", "distributed", "matplotlib")
    script = f"import sys, mnist_ref.cli; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]", proc.stdout

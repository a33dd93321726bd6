"""The front door and the manual: every command and option they name exists, every one that exists is named; the
manual builds with `mkdocs build --strict`; and in a real browser (headless Chromium) its pages show what a reader
should see: tables as tables, images that load, no console errors, a navigation that reaches every page."""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from helpers import ROOT

from mnist_ref import cli

DOCS = ROOT / "docs"
README = ROOT / "README.md"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Where the browser test leaves its screenshots (CI keeps this folder as an artifact).
SCREENSHOTS = Path(os.environ.get("MNIST_REF_SCREENSHOTS", ROOT / "build" / "screenshots"))
# The pages a newcomer opens first, looked at in the browser.
LOOKED_AT = {
    "home": "",
    "getting-started": "getting-started/",
    "regression-checks": "regression-checks/",
    "results": "results/",
    "history": "results/history/",
}


def manual_texts() -> dict[str, str]:
    """README and every hand-written page of the manual."""
    return {"README.md": README.read_text(), **{p.name: p.read_text() for p in sorted(DOCS.glob("*.md"))}}


def code_snippets(text: str) -> list[str]:
    """What a reader would copy: fenced code lines and inline code spans."""
    fenced = re.findall(r"^```[^\n]*\n(.*?)^```", text, flags=re.S | re.M)
    lines = [re.split(r"(?:^|\s)#", line)[0] for block in fenced for line in block.splitlines()]  # comments are prose
    prose = re.sub(r"^```[^\n]*\n.*?^```", "", text, flags=re.S | re.M)
    return lines + re.findall(r"`([^`\n]+)`", prose)


@functools.cache
def parsers() -> dict[str, set[str]]:
    """Each subcommand's option strings (and the top-level parser's, under '')."""
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    options = {"": {s for a in parser._actions for s in a.option_strings}}
    for name, subparser in sub.choices.items():
        options[name] = {s for a in subparser._actions for s in a.option_strings}
    return options


def bench_options() -> set[str]:
    return set(re.findall(r'addoption\(\s*"(--bench-[\w-]+)"', (ROOT / "bench" / "bench_options.py").read_text()))


def named_commands() -> list[tuple[str, str, list[str]]]:
    """(file, command, options) for every `mnist-ref COMMAND --option ...` the README and the manual show."""
    found = []
    for name, text in manual_texts().items():
        for snippet in code_snippets(text):
            for match in re.finditer(r"(?<![\w/.-])mnist-ref ([a-z][\w-]*)((?:[^|;&#`]*))", snippet):
                found.append((name, match.group(1), re.findall(r"(?<!\S)(--[a-z][\w-]*)", match.group(2))))
    return found


def test_every_command_and_option_the_manual_names_exists():
    wrong = []
    for name, command, options in named_commands():
        if command not in parsers():
            wrong.append(f"{name}: mnist-ref {command} is no command")
            continue
        wrong += [
            f"{name}: mnist-ref {command} has no {o}" for o in options if o not in parsers()[command] | parsers()[""]
        ]
    texts = "\n".join(manual_texts().values())
    cli_options = set().union(*parsers().values())
    for option, family in set(re.findall(r"(--bench-[a-z][\w-]*?)(-?\*?)(?![\w-])", texts)):
        known = (
            any(o.startswith(option + "-") for o in bench_options())
            if family
            else option in bench_options() | cli_options
        )
        if not known:
            wrong.append(f"{option}{family}: no such bench option")
    assert not wrong, "\n".join(wrong)


def test_every_command_and_option_that_exists_is_in_the_manual():
    texts = "\n".join(manual_texts().values())
    missing = [f"mnist-ref {c}" for c in parsers() if c and f"mnist-ref {c}" not in texts]
    missing += [
        f"mnist-ref {c} {o}"
        for c, options in parsers().items()
        if c
        for o in sorted(options)
        if o not in ("-h", "--help") and not re.search(rf"{re.escape(o)}(?![\w-])", texts)
    ]
    missing += [o for o in sorted(bench_options()) if not re.search(rf"{re.escape(o)}(?![\w-])", texts)]
    assert not missing, "named nowhere in README.md or docs/: " + ", ".join(missing)


def test_every_command_says_what_it_answers_its_exit_codes_and_an_example(capsys):
    for command in cli.command_names():
        with pytest.raises(SystemExit):
            cli.main([command, "--help"])
        out = capsys.readouterr().out
        assert "exit codes: 0" in out and f"example: mnist-ref {command}" in out, out
        assert cli.ABOUT[command][0].split(".")[0].split("?")[0][:40] in " ".join(out.split())


def test_the_readme_is_a_front_door():
    text = README.read_text()
    assert len(text.splitlines()) <= 200
    first_screen = "\n".join(text.splitlines()[:60])
    assert "pip install -e" in first_screen and "python -m pytest" in first_screen
    assert "mnist-ref train --seed 42" in "\n".join(text.splitlines()[:70])
    assert not re.search(r"\b20\d\d-\d\d-\d\d\b", text), (
        "no dated measurements in the README: they belong to results pages"
    )
    for link in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
        assert link.startswith("http") or (ROOT / link).exists(), link


# --- the site -------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The manual built with --strict (a broken link, a missing page or image, a stale anchor fail the build)."""
    if shutil.which("mkdocs", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("the manual's tools are not installed: pip install -e '.[docs]'")
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "mkdocs"), "build", "--strict", "-d", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out


@pytest.mark.slow
def test_the_manual_builds_strictly_with_its_generated_pages(site):
    commands = (site / "commands" / "index.html").read_text()
    for name in cli.command_names():
        assert f"mnist-ref {name}" in commands
    assert "--bench-measure" in commands, "the bench's options, from pytest's own help"
    schemas = (site / "format" / "index.html").read_text()
    assert "mnist-ref/bench/2" in schemas and "instructions_per_step" in schemas
    assert "judge_path" in (site / "api" / "index.html").read_text(), "the API page comes from the docstrings"
    assert (site / "results" / "bench" / "index.html").is_file() and (site / "results" / "history.png").is_file()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def served(site):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("no Chromium: apt-get install chromium (.ci/run installs it)")
    playwright = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[docs]'")
    with playwright.sync_playwright() as p:
        launched = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield launched
        launched.close()


def look_at(browser, url: str, shot: Path) -> dict:
    """What a reader of url sees: console errors, failed requests, tables, images and their widths; a screenshot."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("requestfailed", lambda request: errors.append(f"failed: {request.url}"))
    response = page.goto(url, wait_until="load")
    page.wait_for_load_state("networkidle")
    seen = page.evaluate("""() => ({
        tables: document.querySelectorAll('article table').length,
        rawPipes: [...document.querySelectorAll('article p')].filter(p => /^\\|.*\\|$/m.test(p.textContent)).length,
        images: [...document.querySelectorAll('article img')].map(i => [i.src, i.complete ? i.naturalWidth : 0]),
        nav: [...document.querySelectorAll('nav.md-nav--primary a.md-nav__link[href]')].map(a => a.href),
    })""")
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot), full_page=False)
    page.close()
    return {**seen, "status": response.status if response else None, "errors": errors}


@pytest.mark.slow
def test_a_reader_sees_tables_images_and_every_page_in_chromium(site, served, browser):
    pages = {name: look_at(browser, served + path, SCREENSHOTS / f"{name}.png") for name, path in LOOKED_AT.items()}
    for name, seen in pages.items():
        assert seen["status"] == 200 and not seen["errors"], (name, seen["errors"])
        assert seen["tables"] > 0 and seen["rawPipes"] == 0, (name, "tables render as tables, not as text")
        assert all(width > 0 for _, width in seen["images"]), (name, seen["images"])
    assert pages["history"]["images"], "the history page shows its plot"
    built = {p.parent.relative_to(site).as_posix() for p in site.rglob("index.html")} - {"."}
    reached = {re.sub(r"^https?://[^/]+/", "", href).split("#")[0].rstrip("/") for href in pages["home"]["nav"]}
    assert built <= reached | {"404"}, f"pages the navigation does not reach: {sorted(built - reached)}"
    page = browser.new_page()
    for path in sorted(built & reached):
        assert page.goto(served + path + "/", wait_until="domcontentloaded").status == 200, path
    page.close()


LIST_ITEM = re.compile(r"^([-*]|\d+\.) ")


def test_every_list_starts_after_a_blank_line():
    """Python-Markdown (the site) runs a list straight after a paragraph line into the paragraph, as text with dashes,
    where GitHub shows a list: every list in the manual and the results pages starts after a blank line."""
    glued = []
    for page in sorted([*(ROOT / "docs").glob("*.md"), *(ROOT / "results").glob("*.md"), README]):
        lines = page.read_text().splitlines()
        fenced = False
        for number, (before, line) in enumerate(zip(lines, lines[1:], strict=False), 2):
            fenced ^= before.startswith("```")
            if (
                not fenced
                and LIST_ITEM.match(line)
                and before.strip()
                and not LIST_ITEM.match(before.lstrip())
                and not before.startswith((" ", "|"))
            ):
                glued.append(f"{page.relative_to(ROOT)}:{number}")
    assert glued == [], "put a blank line before these lists"

"""The documentation a user reads: the MkDocs site builds with --strict, the README stays a front page
whose links resolve, and no page carries the development's history.

Runs in the test process over README.md, mkdocs.yml and docs/; `mkdocs build` runs as a child
process into a temporary directory, never into the tree.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
MAX_README_LINES = 250
# Phrases of how the project was built, not of what it does: they belong in no page a user reads.
# ("session" alone is a trading session here, so only its development senses are listed.)
HISTORY = (
    r"\bissue\s*#?\d+",
    r"\b(?:this|previous|last|earlier|review|coding|work) session\b",
    r"\bsession\s+\d+\b",
    r"\bhelpers?\b",
    r"\bmoonshot\b",
    r"\bthis project is built on\b",
    r"\bthe machines this project\b",
    r"\bthis project's\b",
    r"(?-i:\bDESIGN\b)",
    r"\bthe design's\b",
    r"\bas the design asks\b",
)
MARKDOWN_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def user_pages() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


def test_the_site_builds_strictly(tmp_path: Path):
    site = tmp_path / "site"
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(site)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120,
                          # Material's banner about its successor is not a finding of this site.
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert not re.search(r"^WARNING\b", done.stderr, flags=re.MULTILINE), done.stderr
    # Every page of the nav was written, the generated configuration page among them.
    for page in ("getting-started", "configuration", "simulation", "errors", "changelog", "market-data"):
        assert (site / page / "index.html").is_file(), page


def test_every_page_in_docs_is_in_the_nav():
    nav = (ROOT / "mkdocs.yml").read_text()
    listed = set(re.findall(r":\s+([\w-]+\.md)\s*$", nav, flags=re.MULTILINE))
    assert listed == {p.name for p in DOCS.glob("*.md")}


def test_the_readme_is_a_front_page():
    lines = README.read_text().count("\n")
    assert 0 < lines <= MAX_README_LINES, f"README.md has {lines} lines: move the detail into docs/"


def test_the_readme_links_resolve():
    targets = [t for t in MARKDOWN_LINK.findall(README.read_text()) if "://" not in t]
    assert any(t.startswith("docs/") for t in targets)
    missing = [t for t in targets if not (ROOT / t.split("#")[0]).exists()]
    assert not missing


@pytest.mark.parametrize("page", user_pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_development_history(page: Path):
    text = page.read_text()
    found = [m.group(0) for pattern in HISTORY for m in re.finditer(pattern, text, flags=re.IGNORECASE)]
    assert not found, f"{page.name}: {found}"


def test_the_history_check_catches_what_it_is_for():
    samples = ("as issue 8 asks", "measured in this session", "a review helper said", "the moonshot",
               "the machines this project is built on", "The DESIGN's table")
    for sample in samples:
        assert any(re.search(p, sample, flags=re.IGNORECASE) for p in HISTORY), sample
    assert not any(re.search(p, "a DAY order ends at the close of the session it arrived in", flags=re.IGNORECASE)
                   for p in HISTORY)

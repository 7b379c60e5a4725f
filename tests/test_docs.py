"""The documentation: the MkDocs site builds strictly, the README stays a front page whose links resolve,
and nothing points at paths users do not have."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
README_MAX_LINES = 250
TEST_COMMAND = re.compile(r"<!-- test-command -->\s*```(?:bash|sh)?\n(.+?)\n```", re.S)   # the regex .ci/run uses
MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)")
IMAGES = {".png", ".jpg", ".jpeg", ".gif", ".svg", ".pdf"}


def test_mkdocs_builds_strictly(tmp_path):
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout}\n{result.stderr}"
    assert (tmp_path / "site" / "index.html").is_file()


def relative_links(markdown: str) -> list:
    """Link targets in ``markdown`` that are neither URLs nor in-page anchors, without their #fragment."""
    targets = [m.group(1) for m in MARKDOWN_LINK.finditer(markdown)]
    return [t.split("#", 1)[0] for t in targets if not re.match(r"[a-z][a-z0-9+.-]*:", t) and not t.startswith("#")]


def test_readme_is_a_front_page_with_working_links():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= README_MAX_LINES, "README.md is the front page: move long write-ups to docs/"
    match = TEST_COMMAND.search(text)
    assert match and "pytest" in match.group(1), "the <!-- test-command --> block that CI runs is missing"
    links = relative_links(text)
    assert links, "the README should link into docs/"
    broken = [link for link in links if not (ROOT / link).exists()]
    assert not broken, f"README.md links to missing files: {broken}"


def test_relative_links_finds_only_local_targets():
    text = "[a](docs/a.md#x) [b](https://example.org/b.md) [c](#here) ![d](docs/figures/d.png)"
    assert relative_links(text) == ["docs/a.md", "docs/figures/d.png"]


def test_no_reference_to_the_shared_folder():
    docs = [p for p in sorted((ROOT / "docs").rglob("*")) if p.is_file() and p.suffix.lower() not in IMAGES]
    pages = [README, ROOT / "mkdocs.yml", *docs]
    offending = [str(p.relative_to(ROOT)) for p in pages if "../shared" in p.read_text(encoding="utf-8")]
    assert not offending, f"these files refer to ../shared, which users do not have: {offending}"


def test_every_docs_figure_has_a_caption():
    """Under every figure in docs/ comes a one-line italic caption (what was run, how to read it)."""
    uncaptioned = []
    for page in sorted((ROOT / "docs").glob("*.md")):
        lines = page.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines):
            if line.startswith("!["):
                following = [text for text in lines[number + 1:number + 3] if text.strip()]
                caption = following[0] if following else ""
                if not (caption.startswith("*") and caption.endswith("*") and len(caption) > 20):
                    uncaptioned.append(f"{page.name}:{number + 1}")
    assert not uncaptioned, f"figures without a caption line: {uncaptioned}"

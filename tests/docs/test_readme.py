"""README.md stays a front page: short, its two commands intact, every docs/ page reachable,
and no relative link in README.md or docs/ pointing at a file or heading that is not there."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]

# The quick start and the test command; .ci/run relies on the second.
COMMANDS = [
    "python3 -m venv .venv && . .venv/bin/activate && pip install -e '.[sandbox]' && reconciler demo",
    "python -m pytest -n 2 -q",
]


def headings(text: str) -> list[str]:
    found, fence = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            fence = not fence
        elif not fence and re.match(r"#{1,6} ", line):
            found.append(line.lstrip("#").strip())
    return found


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as '-'."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    return {anchor(h) for h in headings(page.read_text(encoding="utf-8"))}


def relative_links(page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    return [t for t in re.findall(r"\]\(([^)\s]+)\)", text) if not re.match(r"[a-z]+:", t)]


def test_readme_is_short_and_keeps_its_two_commands():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) < 400
    blocks = re.findall(r"```sh\n(.*?)```", text, flags=re.S)
    for command in COMMANDS:
        assert any(command in block.splitlines() for block in blocks), command


def test_readme_links_every_docs_page():
    linked = {t.partition("#")[0] for t in relative_links(README)}
    pages = {f"docs/{p.name}" for p in PAGES[1:]}
    assert pages - linked == set()


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve(page):
    broken = []
    for target in relative_links(page):
        file, _, fragment = target.partition("#")
        dest = (page.parent / file).resolve() if file else page
        missing_heading = fragment and dest.suffix == ".md" and fragment not in anchors(dest)
        if not dest.exists() or missing_heading:
            broken.append(target)
    assert broken == []

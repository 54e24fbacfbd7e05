"""The README is a user guide: short, with both set-up commands, linking every docs page
(and every link resolving)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_is_short_and_gives_both_commands() -> None:
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 250
    assert "./dev run" in text and "./dev test" in text


def test_every_docs_page_is_linked_and_every_link_resolves() -> None:
    text = (ROOT / "README.md").read_text()
    links = set(re.findall(r"\]\(([^)#]+)\)", text))
    pages = {f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md")}
    assert pages <= links, sorted(pages - links)
    for link in links:
        assert (ROOT / link).is_file(), link

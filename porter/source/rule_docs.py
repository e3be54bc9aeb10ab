"""One documentation page per rule under docs/rules/, generated from the catalogue, and the URL
JSON and SARIF findings point to (ruff's `url` / SARIF `helpUri`).

    python -m porter.source.rule_docs docs/rules      # regenerate (a test keeps them in sync)

The URL is `$PORTER_RULE_DOCS_URL/NRN101.md` when that is set (a team that hosts the repository
points it at its own copy; `{id}` in it is replaced by the rule id), else the page in this checkout
as a `file://` URI when porter runs from one, else the page the wheel installed (`porter.rule_pages`).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from porter.source.catalogue import Catalogue, Rule, load_catalogue
from porter.source.explain import explain

DOCS_URL_ENV = "PORTER_RULE_DOCS_URL"
CHECKOUT_DOCS = Path(__file__).resolve().parents[2] / "docs" / "rules"


def rule_docs_url(rule_id: str) -> str | None:
    base = os.environ.get(DOCS_URL_ENV, "").strip()
    if base:
        return base.replace("{id}", rule_id) if "{id}" in base else f"{base.rstrip('/')}/{rule_id}.md"
    for folder in (CHECKOUT_DOCS, _installed_pages()):
        page = folder / f"{rule_id}.md" if folder is not None else None
        if page is not None and page.is_file():
            return page.as_uri()
    return None


def _installed_pages() -> Path | None:
    """docs/rules as a wheel installs it (the package `porter.rule_pages`), or None."""
    spec = importlib.util.find_spec("porter.rule_pages")
    locations = list(spec.submodule_search_locations or ()) if spec is not None else []
    return Path(locations[0]) if locations else None


def rule_page(rule: Rule) -> str:
    source = Path(rule.source).name if rule.source else "the catalogue"
    return (explain(rule) + "\n---\n\n"
            f"Generated from `rules/{source}` by `python -m porter.source.rule_docs docs/rules`; "
            f"`porter rule {rule.id}` prints the same text.\n")


def index_page(catalogue: Catalogue) -> str:
    out = ["# porter rules", "", "One page per rule, generated from the catalogue (`rules/*.toml`).", "",
           "| id | name | severity | title |", "|---|---|---|---|"]
    for rule in catalogue:
        title = rule.title.replace("|", "\\|")
        out.append(f"| [{rule.id}]({rule.id}.md) | {rule.name} | {rule.severity} | {title} |")
    return "\n".join(out) + "\n"


def expected_pages(catalogue: Catalogue) -> dict[str, str]:
    pages = {f"{rule.id}.md": rule_page(rule) for rule in catalogue}
    pages["README.md"] = index_page(catalogue)
    return pages


def write_pages(folder: Path, catalogue: Catalogue | None = None) -> list[str]:
    """Write every page, remove pages of rules that are gone; the names written."""
    pages = expected_pages(catalogue or load_catalogue(()))
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("NRN*.md"):
        if stale.name not in pages:
            stale.unlink()
    for name, text in pages.items():
        (folder / name).write_text(text, encoding="utf-8")
    return sorted(pages)


if __name__ == "__main__":
    written = write_pages(Path(sys.argv[1] if len(sys.argv) > 1 else CHECKOUT_DOCS))
    print(f"wrote {len(written)} pages")

"""docs/rules/ holds one page per rule, generated from the catalogue; the URLs in JSON and SARIF
point at them."""

from __future__ import annotations

from pathlib import Path

from porter.source.catalogue import load_catalogue
from porter.source.rule_docs import CHECKOUT_DOCS, DOCS_URL_ENV, expected_pages, rule_docs_url

DOCS = Path(__file__).resolve().parents[2] / "docs" / "rules"


def test_rule_pages_match_the_catalogue():
    pages = expected_pages(load_catalogue(()))
    on_disk = {p.name for p in DOCS.glob("*.md")}
    assert on_disk == set(pages), "regenerate with: python -m porter.source.rule_docs docs/rules"
    for name, text in pages.items():
        assert (DOCS / name).read_text(encoding="utf-8") == text, \
            f"docs/rules/{name} is stale: python -m porter.source.rule_docs docs/rules"


def test_every_rule_has_a_page_with_its_fixes():
    for rule in load_catalogue(()):
        text = (DOCS / f"{rule.id}.md").read_text(encoding="utf-8")
        assert text.startswith(f"# {rule.id} {rule.name}\n") and "## Fix per target" in text


def test_the_url_points_at_the_page(monkeypatch):
    monkeypatch.delenv(DOCS_URL_ENV, raising=False)
    assert CHECKOUT_DOCS == DOCS
    assert rule_docs_url("NRN101") == (DOCS / "NRN101.md").as_uri()
    monkeypatch.setenv(DOCS_URL_ENV, "https://example.com/porter/docs/rules/")
    assert rule_docs_url("NRN101") == "https://example.com/porter/docs/rules/NRN101.md"

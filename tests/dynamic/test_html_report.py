"""`porter parity --html`: one self-contained page (no script, no external reference) with the
tables, the error-through-the-layers plot and the error distributions; it opens in headless
Chromium (skipped, with the reason, where Chromium is not installed)."""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser

import pytest

from tests.dynamic.conftest import FIXTURES, ROOT, run_cli

BLAME = FIXTURES / "blame"


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


@pytest.fixture
def report(parity_in_process, tmp_path):
    html = tmp_path / "parity.html"
    result = run_cli("parity", "--root", BLAME, "--candidate", "model:make_attention_bug", "--candidate-dtype",
                     "bfloat16", "--layers", "--html", html)
    assert result.exit_code == 1
    return html


def test_the_report_is_self_contained_and_has_its_parts(report):
    text = report.read_text()
    parser = Tags()
    parser.feed(text)
    tags = [t for t, _ in parser.tags]
    assert "script" not in tags and "link" not in tags and "img" not in tags
    assert not re.search(r"(src|href)=\"https?:", text)  # opens offline
    assert tags.count("svg") >= 3  # layers plot, histogram, QQ plot
    assert "error through the layers" in text and "QQ" in text and "error histogram" in text
    assert "First divergence: <b>blocks.1.attn</b>" in text
    assert 'class="blamed"' in text  # the blamed row is highlighted
    assert "FAIL" in text and "1e0" in text  # badge; log-scale ticks


def test_the_report_opens_in_headless_chromium(report, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium); the HTML checks above ran")
    shot = tmp_path / "parity.png"
    common = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    dom = subprocess.run([*common, "--dump-dom", report.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0 and "<polyline" in dom.stdout and "blocks.1.attn" in dom.stdout
    proc = subprocess.run([*common, "--window-size=1200,1600", f"--screenshot={shot}", report.as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000  # a rendered page, not a blank one


def test_the_screenshot_script_exists_and_is_executable():
    script = ROOT / "scripts" / "parity_report_screenshot.sh"
    assert script.is_file() and script.stat().st_mode & 0o111

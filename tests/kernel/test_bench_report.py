"""`wirespeed bench` for real (the sections that need no traffic, to keep the suite short), and
its report opened in a real browser: headless Chromium from Debian, which must find every image
decoded, every section holding a figure, a table or a reason, and no script error."""

from __future__ import annotations

import html
import json
import shutil
import subprocess

import pytest

from helpers import run_cli
from wirespeed import lab as labmod

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def browser_check(path: str, profile: str) -> dict:
    r = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update", "--disable-sync",
                        f"--user-data-dir={profile}", "--virtual-time-budget=5000", "--dump-dom", f"file://{path}"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-500:]
    marker = 'data-check="'
    at = r.stdout.index(marker) + len(marker)
    return json.loads(html.unescape(r.stdout[at : r.stdout.index('"', at)]))


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (CI installs it)")
def test_the_report_reads_in_a_real_browser(tmp_path):
    out = tmp_path / "rep"
    r = run_cli("bench", "--sections", "budget,amortisation,queueing", "--out", str(out), "--no-install", timeout=300)
    assert r.returncode == 0, r.stderr
    assert "report:" in r.stdout and "3 of 9 sections" in r.stdout
    check = browser_check(str(out / "report.html"), str(tmp_path / "profile"))
    assert check == {"images": 3, "broken_images": 0, "sections": 9, "empty_sections": 0, "errors": []}
    assert not labmod.lab_namespaces("bench")


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (CI installs it)")
def test_the_browser_check_catches_a_broken_page(tmp_path):
    page = tmp_path / "broken.html"
    src = (tmp_path.parent / "x").as_posix()
    page.write_text('<html><head><script>' + __import__("wirespeed.tools.report", fromlist=["CHECK_JS"]).CHECK_JS +
                    '</script></head><body><section class="result"><h2>x</h2></section>'
                    f'<img src="{src}/missing.png"><script>nosuch();</script></body></html>')
    check = browser_check(str(page), str(tmp_path / "profile"))
    assert check["broken_images"] == 1 and check["empty_sections"] == 1 and check["errors"]

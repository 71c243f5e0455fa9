"""`wirespeed bench` for real (the sections that need no traffic, to keep the suite short), its
report opened in a real browser: headless Chromium from Debian, which must find every image
decoded, every section holding a figure, a table or a reason, and no script error."""


from __future__ import annotations

import pytest

from helpers import browser_check, needs_chromium, run_cli

from wirespeed import lab as labmod

pytestmark = pytest.mark.slow  # traffic for seconds, or a search, in every test


@needs_chromium
def test_the_report_reads_in_a_real_browser(tmp_path):
    out = tmp_path / "rep"
    r = run_cli("bench", "--sections", "budget,amortisation,queueing", "--out", str(out), "--no-install", timeout=300)
    assert r.returncode == 0, r.stderr
    assert "report:" in r.stdout and "3 of 9 sections" in r.stdout
    check = browser_check(str(out / "report.html"), str(tmp_path / "profile"))
    assert check == {"images": 3, "broken_images": 0, "sections": 9, "empty_sections": 0, "errors": []}
    assert not labmod.lab_namespaces("bench")

"""The report's own check, in a real browser and without root: a page with a broken image, an
empty section and a script error is caught on each count (the check a report people look at
carries, read by headless Chromium from Debian)."""

from __future__ import annotations

from helpers import browser_check, needs_chromium
from wirespeed.tools.report import CHECK_JS


@needs_chromium
def test_the_browser_check_catches_a_broken_page(tmp_path):
    page = tmp_path / "broken.html"
    src = (tmp_path.parent / "x").as_posix()
    page.write_text(f'<html><head><script>{CHECK_JS}</script></head><body><section class="result"><h2>x</h2>'
                    f'</section><img src="{src}/missing.png"><script>nosuch();</script></body></html>')
    check = browser_check(str(page), str(tmp_path / "profile"))
    assert check["broken_images"] == 1 and check["empty_sections"] == 1 and check["errors"]

"""The HTML report in a real browser: Debian's headless Chromium loads it offline without
console errors, the diagram's SVG carries the Chinese labels as text, the page is not blank.

Needs the `chromium` and `fonts-noto-cjk` packages (.ci/run installs them when missing);
skips, saying why, only where no package manager can install them.
"""

import re
import shutil
import subprocess

import numpy as np
import pytest

import csi_models as csi

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def browser() -> str:
    found = next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)
    if found:
        return found
    if shutil.which("apt-get") is None:
        pytest.skip("no Chromium and no apt-get to install it (Debian: apt-get install chromium)")
    pytest.fail("Chromium is missing: run `apt-get install -y chromium fonts-noto-cjk` "
                "(.ci/run does this before the tests)")


def run_browser(tmp_path, url: str, *extra) -> subprocess.CompletedProcess:
    """Headless, sandbox and GPU off (containers), no network (a dead proxy), a fresh profile."""
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    argv = [browser(), "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--disable-extensions", "--disable-sync",
            "--no-first-run", "--no-default-browser-check", "--proxy-server=127.0.0.1:9",
            f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
            "--virtual-time-budget=3000", *extra, url]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


def console_messages(stderr: str) -> list[str]:
    return re.findall(r":CONSOLE[^\]]*\] (.*)", stderr)


def test_the_console_check_sees_errors(tmp_path):
    """Control: a page that logs an error is caught, so a clean run means something."""
    page = tmp_path / "bad.html"
    page.write_text('<!DOCTYPE html><meta charset="utf-8"><p>x</p>'
                    '<script>console.error("csi-control-error")</script>', encoding="utf-8")
    done = run_browser(tmp_path, page.as_uri(), "--dump-dom")
    assert any("csi-control-error" in m for m in console_messages(done.stderr))


@pytest.fixture(scope="module")
def report(tmp_path_factory, mobi):
    res = csi.fit("ecsi", mobi, method="pls", bootstrap=200, random_state=1)
    path = tmp_path_factory.mktemp("browser") / "report.html"
    res.to_html(path, lang="zh")
    return path


def test_report_loads_offline_with_chinese_svg_text(report, tmp_path):
    done = run_browser(tmp_path, report.as_uri(), "--dump-dom")
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    assert console_messages(done.stderr) == []
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", dom), "the report loads a resource"
    svg = re.search(r"<svg[^>]*csi-diagram.*?</svg>", dom, re.S).group(0)
    labels = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    for label in ("顾客满意度", "感知质量", "企业形象", "顾客忠诚"):
        assert label in labels
    assert "路径系数（标准化）" in dom


def test_screenshot_is_not_blank(report, tmp_path):
    from matplotlib.image import imread

    shot = tmp_path / "shot.png"
    done = run_browser(tmp_path, report.as_uri(), "--hide-scrollbars", "--window-size=1280,1000",
                       f"--screenshot={shot}")
    assert done.returncode == 0 and shot.exists(), done.stderr[-2000:]
    pixels = imread(shot)[..., :3]
    ink = (pixels.mean(axis=2) < 0.6).mean()
    assert 0.01 < ink < 0.5, f"{ink:.3%} of the page is dark"
    assert np.unique(pixels.reshape(-1, 3), axis=0).shape[0] > 50  # text and lines, not a fill

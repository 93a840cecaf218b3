"""The built documentation site shows its figures and its equations without a network.

Builds the site with `mkdocs build --strict` into a temporary folder (needs the `docs`
extra: `pip install ".[docs]"`) and reads the HTML: every `<img src>` must name a file that
exists in the site, no page may load a script or stylesheet from another host (a math CDN
in particular), and every formula must have been rendered to MathML at build time. A fast
test keeps every png under docs/ below 300 kB.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images: list[str] = []
        self.loads: list[str] = []  # scripts and stylesheets the page loads
        self.math = 0
        self.unrendered = 0  # formulas still in TeX inside their arithmatex wrapper
        self._in_formula = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img" and a.get("src"):
            self.images.append(a["src"])
        elif tag == "script" and a.get("src"):
            self.loads.append(a["src"])
        elif tag == "link" and "stylesheet" in (a.get("rel") or "") and a.get("href"):
            self.loads.append(a["href"])
        elif tag == "math":
            self.math += 1
        elif tag in ("span", "div") and "arithmatex" in (a.get("class") or "").split():
            self._in_formula = True

    def handle_endtag(self, tag):
        if tag in ("span", "div"):
            self._in_formula = False

    def handle_data(self, data):
        if self._in_formula and data.strip().startswith(("\\(", "\\[")):
            self.unrendered += 1


def _external(url: str) -> bool:
    parts = urlsplit(url)
    return bool(parts.scheme or parts.netloc)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    if importlib.util.find_spec("mkdocs") is None:
        pytest.fail('building the docs needs the docs extra: pip install ".[docs]"')
    out = tmp_path_factory.mktemp("site")
    run = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, f"mkdocs build --strict failed:\n{run.stderr[-3000:]}"
    return out


def _pages(site: Path):
    pages = sorted(site.rglob("*.html"))
    assert len(pages) > 20, f"only {len(pages)} pages built"
    for path in pages:
        parser = _Page()
        parser.feed(path.read_text(encoding="utf-8"))
        yield path, parser


@pytest.mark.slow
def test_every_image_in_the_built_site_exists(site):
    missing, n_images = [], 0
    for path, page in _pages(site):
        for src in page.images:
            if _external(src) or src.startswith("data:"):
                missing.append(f"{path.relative_to(site)}: external image {src}")
                continue
            n_images += 1
            target = (path.parent / unquote(urlsplit(src).path)).resolve()
            if not target.is_file():
                missing.append(f"{path.relative_to(site)}: {src}")
    assert not missing, "images that do not resolve:\n" + "\n".join(missing)
    assert n_images >= 8, f"only {n_images} images found: is the parser reading <img>?"


@pytest.mark.slow
def test_no_page_loads_from_another_host_and_all_math_is_rendered(site):
    external, unrendered, n_math = [], [], 0
    for path, page in _pages(site):
        external += [f"{path.relative_to(site)}: {u}" for u in page.loads if _external(u)]
        n_math += page.math
        if page.unrendered:
            unrendered.append(str(path.relative_to(site)))
    assert not external, "pages load scripts/stylesheets from another host:\n" + "\n".join(external)
    assert not unrendered, f"formulas left for a browser-side renderer in: {unrendered}"
    assert n_math > 100, f"only {n_math} formulas rendered as MathML"


def test_documentation_images_are_small():
    # figures ship in the repository and the site: keep each below 300 kB (downscale if not)
    large = [
        f"{p.relative_to(ROOT)}: {p.stat().st_size // 1000} kB"
        for p in sorted((ROOT / "docs").rglob("*.png"))
        if p.stat().st_size > 300_000
    ]
    assert not large, "images over 300 kB:\n" + "\n".join(large)

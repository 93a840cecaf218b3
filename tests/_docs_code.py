"""Run the Python code blocks of a documentation page, in order, as one script."""

from __future__ import annotations

import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def python_blocks(page: str) -> list[str]:
    """The ```python blocks of `docs/<page>`, in order."""
    text = (ROOT / "docs" / page).read_text()
    return _BLOCK.findall(text)


def run_page(page: str, workdir: Path) -> dict:
    """Execute the page's Python blocks in one namespace, with `workdir` as the current
    folder; `docs` and `data` there link to the repository's, so the page's relative paths
    (written for the repository root) resolve, and files it writes land in `workdir`."""
    blocks = python_blocks(page)
    assert blocks, f"docs/{page} has no python code blocks"
    for name in ("docs", "data"):
        link = workdir / name
        if not link.exists():
            link.symlink_to(ROOT / name, target_is_directory=True)
    namespace: dict = {"__name__": "__tutorial__"}
    previous = Path.cwd()
    os.chdir(workdir)
    try:
        for i, block in enumerate(blocks):
            code = compile(block, f"docs/{page} (python block {i + 1})", "exec")
            exec(code, namespace)
    finally:
        os.chdir(previous)
    return namespace

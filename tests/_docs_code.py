"""Run the Python code blocks of a documentation page, in order, as one script."""

from __future__ import annotations

import os
import re
import sys
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def python_blocks(page: str) -> list[str]:
    """The ```python blocks of `docs/<page>`, in order."""
    text = (ROOT / "docs" / page).read_text()
    return _BLOCK.findall(text)


def run_page(page: str, workdir: Path, blocks: int | None = None) -> dict:
    """Execute the page's Python blocks in one namespace, with `workdir` as the current
    folder; `docs` and `data` there link to the repository's, so the page's relative paths
    (written for the repository root) resolve, and files it writes land in `workdir`.
    `blocks`: run only the first that many blocks (all by default)."""
    code_blocks = python_blocks(page)
    assert code_blocks, f"docs/{page} has no python code blocks"
    code_blocks = code_blocks[:blocks]
    for name in ("docs", "data"):
        link = workdir / name
        if not link.exists():
            link.symlink_to(ROOT / name, target_is_directory=True)
    # a real module, so that classes defined on the page (dataclasses, equinox modules)
    # find their module in sys.modules
    module = types.ModuleType("docs_page_" + re.sub(r"\W", "_", page.removesuffix(".md")))
    previous = Path.cwd()
    sys.modules[module.__name__] = module
    os.chdir(workdir)
    try:
        for i, block in enumerate(code_blocks):
            code = compile(block, f"docs/{page} (python block {i + 1})", "exec")
            exec(code, module.__dict__)
    finally:
        os.chdir(previous)
        del sys.modules[module.__name__]
    return module.__dict__

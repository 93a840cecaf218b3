"""Every public name of the library's packages has an entry in the API reference.

The public names of a package are its `__all__` when it has one, otherwise the names its
`__init__` re-exports explicitly (`from ._x import Name as Name`). A name is documented when
a page of the documentation (the API reference under docs/api/, or a topic page such as
docs/thermodynamic-targets.md) has a mkdocstrings directive for it (`::: package.Name`), or a
directive for the whole module when the module lists the name in `__all__` and the object
carries its own docstring (mkdocstrings renders exactly those members). Reads files only: no
mkdocs build.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

PACKAGES = [
    "observables",
    "observables.io",
    "observables.testing",
    "observables.testing.strategies",
    "spectrinv.potentials",
    "spectrinv.backends",
    "spectrinv.gradients",
    "spectrinv.losses",
    "spectrinv.fit",
    "spectrinv.datasets",
    "spectrinv.mechanics",
    "spectrinv.interop",
]


def public_names(module_name: str) -> tuple[list[str], bool]:
    """(names, from __all__): `__all__`, else the explicit `X as X` re-exports of the source."""
    module = importlib.import_module(module_name)
    if hasattr(module, "__all__"):
        return list(module.__all__), True
    tree = ast.parse(Path(module.__file__).read_text())
    names = [
        alias.asname
        for node in tree.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
        if alias.asname is not None and alias.asname == alias.name
    ]
    return names, False


def directives() -> set[str]:
    text = "\n".join(p.read_text() for p in sorted(DOCS.rglob("*.md")))
    return set(re.findall(r"^:::\s*([\w.]+)\s*$", text, re.M))


def documented(module_name: str, name: str, has_all: bool, found: set[str]) -> bool:
    if f"{module_name}.{name}" in found:
        return True
    obj = getattr(importlib.import_module(module_name), name)
    if isinstance(obj, types.ModuleType):  # a public submodule: its members have directives
        return any(d.startswith(f"{obj.__name__}.") for d in found) or obj.__name__ in found
    own_doc = (inspect.isclass(obj) or inspect.isroutine(obj)) and bool(obj.__doc__)
    return module_name in found and has_all and own_doc


def test_public_name_lists_are_not_empty():
    # guards the test itself: a parsing mistake must not make every package look covered
    for module_name in PACKAGES:
        names, _ = public_names(module_name)
        assert len(names) >= 3, f"{module_name}: found only {names}"


@pytest.mark.parametrize("module_name", PACKAGES)
def test_every_public_name_has_an_api_entry(module_name):
    names, has_all = public_names(module_name)
    found = directives()
    missing = [n for n in names if not documented(module_name, n, has_all, found)]
    assert not missing, (
        f"{module_name}: no entry in docs/**/*.md for {missing}; add '::: {module_name}.NAME' "
        "to the docs/api page of that topic"
    )


def test_directives_name_objects_that_exist():
    # a directive for a renamed or removed name fails the docs build; say which one here
    wrong = []
    for target in sorted(directives()):
        parts = target.split(".")
        for cut in range(len(parts), 0, -1):
            try:
                obj = importlib.import_module(".".join(parts[:cut]))
            except ImportError:
                continue
            try:
                for attribute in parts[cut:]:
                    obj = getattr(obj, attribute)
            except AttributeError:
                wrong.append(target)
            break
        else:
            wrong.append(target)
    assert not wrong, f"docs directives for names that do not exist: {wrong}"

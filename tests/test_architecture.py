"""Architecture guards that `lint-imports` (the layer / private-module / acyclic contracts in
pyproject.toml, run by CI) does not express: size limits that keep modules focused, and the
rule that gradient strategies and the fit loop talk to engines only through the public
differentiable-engine interface."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("spectrinv", "observables")
MAX_FILE_LINES = 500
MAX_FUNCTION_LINES = 100


def _sources() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def test_the_package_sources_are_found():
    # guards the guards below against silently checking nothing
    names = {p.relative_to(ROOT).as_posix() for p in _sources()}
    assert "spectrinv/__init__.py" in names and "observables/__init__.py" in names
    assert len(names) > 40


@pytest.mark.parametrize("path", _sources(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_source_file_size_and_function_length(path):
    text = path.read_text(encoding="utf-8")
    n_lines = text.count("\n")
    assert n_lines <= MAX_FILE_LINES, (
        f"{path.relative_to(ROOT)} has {n_lines} lines (limit {MAX_FILE_LINES}): split it "
        "along its concepts"
    )
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines, l.{node.lineno})"
        for node in ast.walk(ast.parse(text))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long, f"{path.relative_to(ROOT)}: functions over {MAX_FUNCTION_LINES} lines: {long}"


@pytest.mark.parametrize("subpackage", ["gradients", "fit"])
def test_strategies_and_fit_use_only_the_public_engine_interface(subpackage):
    offending = []
    for path in sorted((ROOT / "spectrinv" / subpackage).rglob("*.py")):
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"isinstance\(.*JaxMDBackend", line) or re.search(
                r"(from \.\.backends\._|spectrinv\.backends\._)", line
            ):
                offending.append(f"{path.relative_to(ROOT)}:{i}: {line.strip()}")
    assert not offending, "engine internals used outside spectrinv.backends:\n" + "\n".join(
        offending
    )


def test_no_test_module_imports_another():
    offending = [
        f"{p.name}: {line.strip()}"
        for p in sorted((ROOT / "tests").glob("*.py"))
        for line in p.read_text(encoding="utf-8").splitlines()
        if re.match(r"\s*(from test_\w+ import|import test_\w+)", line)
    ]
    assert not offending, "tests share helpers through conftest/_systems, not each other:\n" + (
        "\n".join(offending)
    )

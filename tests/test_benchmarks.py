"""The `benchmarks/` folder: scripts by kind, runnable as modules without path hacks, each
listed in its README, every documented script path real, size limits, and the shared timing
harness (warm-ups excluded, contenders alternated, ratios against the reference)."""

import ast
import re
import time
from pathlib import Path

import pytest
from _systems import BENCHMARKS, benchmark_module

ROOT = Path(__file__).resolve().parents[1]
KINDS = ("performance", "validation", "compat")
SCRIPTS = sorted(p for kind in KINDS for p in (BENCHMARKS / kind).glob("[!_]*.py"))


def _harness():
    return benchmark_module("_harness")


def test_scripts_are_sorted_by_kind_into_packages():
    assert len(SCRIPTS) >= 14
    assert not list(BENCHMARKS.glob("[!_]*.py")), "scripts belong in performance/validation/compat"
    for folder in (BENCHMARKS, *(BENCHMARKS / kind for kind in KINDS)):
        assert (folder / "__init__.py").is_file(), f"{folder} must be a package (python -m)"


def test_no_script_shadows_a_package_or_edits_the_import_path():
    packages = {"observables", "spectrinv", "jax", "numpy", "benchmarks"}
    for path in BENCHMARKS.rglob("*.py"):
        assert path.stem not in packages, f"{path} shadows the {path.stem} package"
        text = path.read_text(encoding="utf-8")
        assert "sys.path" not in text, f"{path} edits sys.path; import relatively instead"


def test_every_script_is_mapped_to_its_claim_in_the_readme():
    readme = (BENCHMARKS / "README.md").read_text(encoding="utf-8")
    for path in SCRIPTS:
        rel = path.relative_to(BENCHMARKS).as_posix()
        assert f"`{rel}`" in readme, f"benchmarks/README.md does not list {rel}"


def _documented_scripts():
    """(file, reference) for every `benchmarks/…py` path and `python -m benchmarks.…`
    module named in the docs, the README and the package docstrings."""
    files = [ROOT / "README.md", *(ROOT / "docs").rglob("*.md"), BENCHMARKS / "README.md"]
    files += [*(ROOT / "spectrinv").rglob("*.py"), *(ROOT / "observables").rglob("*.py")]
    found = []
    for f in files:
        text = f.read_text(encoding="utf-8")
        for m in re.finditer(r"benchmarks/([\w/]+)\.py", text):
            found.append((f, "benchmarks/" + m.group(1) + ".py"))
        # a whole module name: `python -m benchmarks.performance.<script>` is a pattern
        for m in re.finditer(r"-m (benchmarks(?:\.\w+)+)(?=[\s`)\]]|$)", text):
            found.append((f, m.group(1).replace(".", "/") + ".py"))
    return found


def test_every_documented_benchmark_exists():
    found = _documented_scripts()
    assert len(found) > 20  # the search itself works
    missing = [f"{f.relative_to(ROOT)}: {ref}" for f, ref in found if not (ROOT / ref).is_file()]
    assert not missing, "documented benchmark scripts that do not exist:\n" + "\n".join(missing)


@pytest.mark.parametrize(
    "path",
    sorted(BENCHMARKS.rglob("*.py")) + sorted((ROOT / "docs" / "examples").rglob("*.py")),
    ids=lambda p: p.relative_to(ROOT).as_posix(),
)
def test_benchmark_and_example_sizes(path):
    text = path.read_text(encoding="utf-8")
    assert text.count("\n") <= 500, f"{path.relative_to(ROOT)}: over 500 lines"
    long = [
        node.name
        for node in ast.walk(ast.parse(text))
        if isinstance(node, ast.FunctionDef) and node.end_lineno - node.lineno + 1 > 100
    ]
    assert not long, f"{path.relative_to(ROOT)}: functions over 100 lines: {long}"


def test_best_time_excludes_warmups_and_keeps_the_fastest_run():
    harness = _harness()
    calls = []

    def fn():  # the first call stands for compilation: slow
        calls.append(time.perf_counter())
        time.sleep(0.5 if len(calls) == 1 else 0.01)
        return 0

    best = harness.best_time(fn, 3)
    assert len(calls) == 4  # one warm-up, three timed
    assert 0.01 <= best < 0.15, best
    calls.clear()
    assert harness.best_time(fn, 1, warmup=0) >= 0.5  # without warm-up the slow call counts
    assert harness.best_time(lambda: time.sleep(0.02), 2, inner=4) >= 0.02  # per call
    with pytest.raises(ValueError, match="repeats must be at least 1"):
        harness.best_time(fn, 0)


def test_alternate_times_the_contenders_in_turns():
    harness = _harness()
    order = []
    contenders = {name: (lambda name=name: order.append(name)) for name in ("ours", "peer")}
    best = harness.alternate(contenders, 3, warmup=1)
    assert order == ["ours", "peer"] * 4  # warm-ups, then three rounds A, B
    assert set(best) == {"ours", "peer"} and all(t >= 0 for t in best.values())


def test_ratio_table_gives_each_time_over_the_reference():
    harness = _harness()
    table = harness.ratio_table({"ours": 0.010, "peer": 0.0315}, "ours")
    assert "| ours | 10.000 | 1.00 |" in table
    assert "| peer | 31.500 | 3.15 |" in table
    with pytest.raises(KeyError, match="reference 'theirs'"):
        harness.ratio_table({"ours": 1.0}, "theirs")

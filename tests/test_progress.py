"""The live progress display: silent unless asked (and never in a pipe), counts and an ETA
from the units after the first, the compilation row driven by JAX's own events, the MD
sampling rows and the command line's `--no-progress`."""

from __future__ import annotations

import io

import jax
import jax.numpy as jnp
import pytest
from _systems import HarmonicTrap
from rich.console import Console

import spectrinv
from observables import Quantity
from spectrinv import _progress
from spectrinv._progress import progress_task, show_progress
from spectrinv.backends import JaxMDBackend, VelocityVerlet
from spectrinv.cli import _main
from spectrinv.potentials import System


def _console() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, width=200, force_terminal=True, color_system=None), buffer


def _render(display: _progress._Display) -> str:
    console, buffer = _console()
    console.print(display.progress.get_renderable())
    return buffer.getvalue()


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_without_a_display_tasks_do_nothing_and_nothing_is_printed(capsys):
    with progress_task("work", 3, unit="steps") as task:
        task.advance(1, info="loss 1")
        task.describe("other")
    assert capsys.readouterr() == ("", "")
    assert spectrinv.show_progress is show_progress


@pytest.mark.parametrize(
    "stdout_tty, stderr_tty, shown",
    [(True, True, True), (False, True, False), (True, False, False)],
)
def test_default_display_only_when_both_streams_are_terminals(
    monkeypatch, stdout_tty, stderr_tty, shown
):
    monkeypatch.setattr("sys.stdout", _Tty() if stdout_tty else io.StringIO())
    monkeypatch.setattr("sys.stderr", _Tty() if stderr_tty else io.StringIO())
    console, _ = _console()
    with show_progress(console=console):
        assert (_progress._active.get() is not None) is shown
    assert _progress._active.get() is None


def test_counts_info_and_eta_measured_after_the_first_unit():
    clock = [100.0]
    display = _progress._Display(Console(file=io.StringIO()), get_time=lambda: clock[0])
    task = display.add("fit step", 10, "steps")
    clock[0] = 160.0  # the first step: 60 s including compilation
    display.advance(task, 1, "loss 12.5")
    clock[0] = 170.0
    display.advance(task, 1, "loss 8.25")
    clock[0] = 180.0
    display.advance(task, 1, "loss 4")
    text = _render(display)
    # two later steps in 20 s: 10 s per step, 7 steps left -> 70 s (the first step's
    # 60 s would have given (80 s / 3) * 7 = 187 s)
    assert "fit step" in text and "3/10 steps" in text and "loss 4" in text
    assert "ETA 0:01:10" in text, text
    display.remove(task)
    assert "fit step" not in _render(display)


def test_compile_row_follows_jax_compilation_events(monkeypatch):
    """The listener reacts to the events this JAX version records when it traces and
    compiles a new function (a renamed event would leave the row hidden)."""
    seen: list[bool] = []
    monkeypatch.setattr(_progress._Display, "compiling", lambda self, on: seen.append(on))
    with show_progress(True, console=_console()[0]):
        jax.jit(lambda x: jnp.sin(x) * 3.0 + 0.125)(jnp.arange(7.0)).block_until_ready()
    assert True in seen and seen[-1] is False, seen
    seen.clear()
    jax.jit(lambda x: jnp.cos(x) - 0.375)(jnp.arange(5.0)).block_until_ready()
    assert seen == []  # no display open: the listener does nothing


def test_compile_row_is_shown_and_hidden():
    display = _progress._Display(Console(file=io.StringIO()))
    display.compiling(True)
    assert "compiling" in _render(display)
    display.compiling(False)
    assert "compiling" not in _render(display)


def test_md_sampling_reports_each_chunk(monkeypatch):
    calls: list[tuple] = []
    real_add, real_advance = _progress._Display.add, _progress._Display.advance

    def add(self, description, total, unit):
        calls.append(("add", description, total, unit))
        return real_add(self, description, total, unit)

    def advance(self, task_id, n, info):
        calls.append(("advance", n))
        return real_advance(self, task_id, n, info)

    monkeypatch.setattr(_progress._Display, "add", add)
    monkeypatch.setattr(_progress._Display, "advance", advance)
    system = System(box=None, species=jnp.zeros(2, jnp.int32), masses=jnp.full(2, 40.0))
    trap = HarmonicTrap(100.0)
    backend = JaxMDBackend(VelocityVerlet(Quantity(5, "fs")), chunk_steps=10)
    state = backend.init(trap, system, Quantity(jnp.eye(2, 3), "nm"))
    with show_progress(True, console=_console()[0]):
        backend.sample(trap, system, state, jax.random.key(0), 30, stride=5)
    md = [c for c in calls if c[0] == "add" and c[1] == "MD sampling"]
    assert md == [("add", "MD sampling", 30, "steps")]
    assert [c for c in calls if c[0] == "advance"] == [("advance", 10)] * 3


@pytest.mark.parametrize(
    "argv, enabled", [(["datasets"], None), (["--no-progress", "datasets"], False)]
)
def test_command_line_no_progress(monkeypatch, capsys, argv, enabled):
    seen = []
    real = _main.show_progress

    def spy(flag=None, **kw):
        seen.append(flag)
        return real(flag, **kw)

    monkeypatch.setattr(_main, "show_progress", spy)
    assert _main.main(argv) == 0
    assert seen == [enabled]
    assert capsys.readouterr().out  # the command's own output is unchanged in a pipe


def test_no_progress_is_also_accepted_after_the_command():
    assert _main.build_parser().parse_args(["datasets", "--no-progress"]).no_progress is True
    assert _main.build_parser().parse_args(["datasets"]).no_progress is False

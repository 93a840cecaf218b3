"""A live progress display for long work: fit steps, MD sampling and JAX compilation.

The library never prints a display on its own. Code that does long work opens a
`progress_task` and advances it; that costs nothing and shows nothing unless the caller
asked for a display with `show_progress`:

```python
from spectrinv import show_progress

with show_progress():             # only when stdout and stderr are terminals
    result = fit(potential, targets, steps=20, output_dir="out")
```

Inside the block a `rich` display on stderr shows one row per running task (its
description, a bar, `done/total` with the task's unit, the elapsed time and the
estimated time left) and, while JAX traces and compiles a function, a row
`compiling (JAX; once per function and array shape)`. The estimate of the time left is
(time left) = (units left) / (rate), where the rate is measured from the first completed
unit on: the first unit of a fit or of an MD run includes the compilation, which the
later units do not repeat, so it is left out of the rate.

The command line (`spectrinv fit`, `quickstart`, `spectrinv spectrum`, ...) opens the
display when both stdout and stderr are terminals, unless `--no-progress` is given; in a
pipe, a file or a CI log nothing of it is written. Lines printed to stdout while the
display is live (the fit's step lines) appear above it.

Compilation is detected with `jax.monitoring`: JAX records the start of each trace and
of each XLA compilation as a scalar event and the end of a compilation as a duration
event (`/jax/core/compile/...`); one listener, installed with the first display, shows
the row between the two while a display is open and does nothing otherwise.
"""

from __future__ import annotations

import contextlib
import contextvars
import sys
from collections.abc import Iterator
from typing import Any

__all__ = ["ProgressTask", "progress_task", "show_progress"]

#: JAX's monitoring events: a scalar (the start time) when a trace or an XLA compilation
#: starts, a duration when the compilation ends.
_TRACE_EVENT = "/jax/core/compile/jaxpr_trace_duration"
_COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"

_COMPILING = "compiling (JAX; once per function and array shape)"

_active: contextvars.ContextVar[_Display | None] = contextvars.ContextVar(
    "spectrinv_progress", default=None
)
_listener_installed = False


class ProgressTask:
    """One row of the progress display: `advance` it as units of work complete.

    Returned by `progress_task`; without an open display every method does nothing.
    """

    def __init__(self, display: _Display | None = None, task_id: Any = None):
        self._display = display
        self._id = task_id

    def advance(self, n: int = 1, info: str | None = None) -> None:
        """`n` more units done; `info`: short text shown after the count (e.g. the loss)."""
        if self._display is not None:
            self._display.advance(self._id, n, info)

    def describe(self, description: str) -> None:
        """Replace the row's description (e.g. `fit step` → `final evaluation`)."""
        if self._display is not None:
            self._display.describe(self._id, description)


@contextlib.contextmanager
def progress_task(
    description: str, total: int | None = None, *, unit: str = ""
) -> Iterator[ProgressTask]:
    """A row of the open display for the duration of the block (removed at its end).

    **Arguments:** `description` (what runs, e.g. `"MD sampling"`); `total` (number of
    units, or None for a spinner without a count); `unit` (`"steps"`, `"frames"`, ...).

    **Returns** (as the context value) a `ProgressTask`; a no-op one when no display is
    open (`show_progress`), so library code calls it unconditionally.
    """
    display = _active.get()
    if display is None:
        yield ProgressTask()
        return
    task_id = display.add(description, total, unit)
    try:
        yield ProgressTask(display, task_id)
    finally:
        display.remove(task_id)


@contextlib.contextmanager
def show_progress(enabled: bool | None = None, *, console: Any = None) -> Iterator[None]:
    """Show the live progress display of the work done inside the block.

    **Arguments:**
    - `enabled`: True (show it), False (do not), None (default: show it only when both
      `sys.stdout` and `sys.stderr` are terminals, so pipes, files and CI logs stay clean);
    - `console`: a `rich.console.Console` to draw on (default: stderr).

    Nested calls reuse the display already open.
    """
    if enabled is None:
        enabled = _is_terminal(sys.stdout) and _is_terminal(sys.stderr)
    if not enabled or _active.get() is not None:
        yield
        return
    display = _Display(console)
    _install_listener()
    token = _active.set(display)
    try:
        with display.progress:
            yield
    finally:
        _active.reset(token)


def _is_terminal(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if callable(isatty) else False
    except ValueError:  # a closed stream
        return False


class _Display:
    """The rich `Progress` behind `show_progress`, with the compilation row."""

    def __init__(self, console: Any = None, get_time: Any = None):
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.text import Text

        class Bar(BarColumn):
            """A bar for counted tasks; nothing for a spinner-only row."""

            def render(self, task):
                return Text("") if task.total is None else super().render(task)

        class Remaining(TimeRemainingColumn):
            """`ETA h:mm:ss` for counted tasks once a rate is known."""

            def render(self, task):
                if task.total is None or task.time_remaining is None:
                    return Text("")
                return Text("ETA ") + super().render(task)

        console = Console(stderr=True, soft_wrap=True) if console is None else console
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            Bar(bar_width=24),
            TextColumn("{task.fields[count]}"),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            Remaining(),
            console=console,
            transient=True,
            # the rate is measured over the whole task (fit steps take tens of seconds)
            speed_estimate_period=24 * 3600.0,
            **({} if get_time is None else {"get_time": get_time}),
        )
        self.units: dict[Any, str] = {}
        self.compile_id = self.progress.add_task(_COMPILING, total=None, visible=False, **_blank())

    def add(self, description: str, total: int | None, unit: str) -> Any:
        task_id = self.progress.add_task(description, total=total, **_blank())
        self.units[task_id] = unit
        self._count(task_id)
        return task_id

    def _task(self, task_id: Any) -> Any:
        return next((t for t in self.progress.tasks if t.id == task_id), None)

    def _count(self, task_id: Any) -> None:
        task = self._task(task_id)
        if task is None or task.total is None:
            return
        unit = self.units.get(task_id, "")
        count = f"{int(task.completed)}/{int(task.total)}" + (f" {unit}" if unit else "")
        self.progress.update(task_id, count=count)

    def advance(self, task_id: Any, n: int, info: str | None) -> None:
        self.compiling(False)  # work completed: not (or no longer) compiling
        fields = {} if info is None else {"info": info}
        self.progress.update(task_id, advance=n, **fields)
        self._count(task_id)

    def describe(self, task_id: Any, description: str) -> None:
        self.progress.update(task_id, description=description)

    def remove(self, task_id: Any) -> None:
        self.units.pop(task_id, None)
        self.progress.remove_task(task_id)

    def compiling(self, on: bool) -> None:
        task = self._task(self.compile_id)
        if task is not None and task.visible != on:
            if on:
                self.progress.reset(self.compile_id, visible=True, total=None)
            else:
                self.progress.update(self.compile_id, visible=False)


def _blank() -> dict[str, str]:
    return {"count": "", "info": ""}


def _on_scalar(event: str, value: float, **kwargs: Any) -> None:
    """JAX monitoring: a trace or an XLA compilation starts."""
    display = _active.get()
    if display is not None and event in (_TRACE_EVENT, _COMPILE_EVENT):
        display.compiling(True)


def _on_duration(event: str, duration: float, **kwargs: Any) -> None:
    """JAX monitoring: an XLA compilation ended."""
    display = _active.get()
    if display is not None and event == _COMPILE_EVENT:
        display.compiling(False)


def _install_listener() -> None:
    global _listener_installed
    if _listener_installed:
        return
    import jax.monitoring

    jax.monitoring.register_scalar_listener(_on_scalar)
    jax.monitoring.register_event_duration_secs_listener(_on_duration)
    _listener_installed = True

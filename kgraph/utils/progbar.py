"""Keras-style progress bar: `45/45 ━━━━━━━━━━━━━━━━━━━━ 0s 2ms/step - loss: 0.5329`."""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Iterable

import numpy as np

_BOLD = "\x1b[1m"
_GREEN = "\x1b[32m"
_GREY = "\x1b[37m"
_RESET = "\x1b[0m"


def print_msg(message: str, line_break: bool = True) -> None:
    """Writes a message to stdout and flushes, replacing the bar glyph where stdout cannot encode it."""
    message = f"{message}\n" if line_break else str(message)
    try:
        sys.stdout.write(message)
    except UnicodeEncodeError:
        encoding = sys.stdout.encoding or "utf-8"
        message = message.replace("━", "=").encode(encoding, errors="ignore").decode(encoding)
        sys.stdout.write(message)
    sys.stdout.flush()


def _format_eta(seconds: float) -> str:
    if seconds > 3600:
        return f"{int(seconds // 3600)}:{int(seconds % 3600 // 60):02d}:{int(seconds % 60):02d}"
    if seconds > 60:
        return f"{int(seconds // 60)}:{int(seconds % 60):02d}"
    return f"{int(seconds)}s"


def _format_time_per_unit(seconds: float, unit_name: str) -> str:
    if seconds >= 1 or seconds == 0:
        return f" {seconds:.0f}s/{unit_name}"
    if seconds >= 1e-3:
        return f" {seconds * 1e3:.0f}ms/{unit_name}"
    return f" {seconds * 1e6:.0f}us/{unit_name}"


class Progbar:
    """Displays a progress bar.

    Args:
        target: Total number of steps expected, `None` if unknown.
        width: Width of the bar, in characters.
        verbose: 0 (silent), 1 (a bar redrawn in place), 2 (one line when done).
        interval: Minimum seconds between two redraws of the bar.
        stateful_metrics: Names of metrics printed as given; the others are
            averaged over the steps seen. Exclusive with `stateless_metrics`.
        stateless_metrics: Names of metrics to average; the others are printed as
            given. Exclusive with `stateful_metrics`.
        unit_name: Name of a step, as in `2ms/step`.

    Example:

    >>> bar = Progbar(10)
    >>> for i in range(10):
    ...     bar.update(i + 1, [("loss", 0.5)])
    """

    def __init__(
        self,
        target: int | None,
        width: int = 20,
        verbose: int = 1,
        interval: float = 0.05,
        stateful_metrics: Iterable[str] | None = None,
        stateless_metrics: Iterable[str] | None = None,
        unit_name: str = "step",
    ) -> None:
        if stateful_metrics is not None and stateless_metrics is not None:
            raise ValueError("Pass only one of `stateful_metrics` and `stateless_metrics`.")
        self.target = target
        self.width = width
        self.verbose = verbose
        self.interval = interval
        self.unit_name = unit_name
        self.stateless_metrics = set(stateless_metrics) if stateless_metrics is not None else None
        self.stateful_metrics = set(stateful_metrics or ()) if stateless_metrics is None else None
        # Redraw in place wherever a carriage return works, as Keras decides it.
        self._dynamic_display = (
            (hasattr(sys.stdout, "isatty") and sys.stdout.isatty())
            or "ipykernel" in sys.modules
            or os.name == "posix"
            or "PYCHARM_HOSTED" in os.environ
        )
        self._seen_so_far = 0
        self._values: dict[str, list] = {}
        self._values_order: list[str] = []
        self._start = time.time()
        self._last_update = 0.0
        self._time_after_first_step: float | None = None
        self._prev_total_width = 0

    def _is_averaged(self, name: str) -> bool:
        if self.stateful_metrics is not None:
            return name not in self.stateful_metrics
        return name in self.stateless_metrics

    def _record(self, current: int, values: Iterable[tuple[str, float]], finalize: bool) -> None:
        for name, value in values:
            if name not in self._values_order:
                self._values_order.append(name)
            if not self._is_averaged(name) or finalize:
                self._values[name] = [value, 1]
                continue
            # Weight by the steps since the last update; at least 1, since the
            # last step may be reported twice (batch end, then epoch end).
            steps = max(current - self._seen_so_far, 1)
            total, count = self._values.get(name, [0.0, 0])
            self._values[name] = [total + value * steps, count + steps]

    def _average(self, name: str) -> float:
        total, count = self._values[name]
        if not isinstance(total, float):
            total = np.mean(total)
        return total / max(1, count)

    def _metrics_text(self, absolute: bool) -> str:
        text = ""
        for name in self._values_order:
            avg = self._average(name)
            # Keras compares the signed value for verbose=2 and the absolute one for verbose=1.
            big = abs(avg) > 1e-3 if absolute else avg > 1e-3
            text += f" - {name}: {avg:.4f}" if big else f" - {name}: {avg:.4e}"
        return text

    def _time_per_unit(self, current: int, now: float) -> float:
        if not current:
            return 0.0
        if self._time_after_first_step is not None and current > 1:
            per_unit = (now - self._time_after_first_step) / (current - 1)
        else:
            per_unit = (now - self._start) / current
        if current == 1:
            # Step 1 includes compile and warm-up time, so later estimates start after it.
            self._time_after_first_step = now
        return per_unit

    def update(
        self, current: int, values: Iterable[tuple[str, float]] | None = None, finalize: bool | None = None
    ) -> None:
        """Updates the bar.

        Args:
            current: Index of the current step.
            values: List of `(name, value)` pairs.
            finalize: Whether this is the last update; by default, when `current >= target`.
        """
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        self._record(current, values or [], finalize)
        self._seen_so_far = current
        now = time.time()
        per_unit = self._time_per_unit(current, now)
        if self.verbose == 1:
            if now - self._last_update < self.interval and not finalize:
                return
            self._draw_bar(current, now, per_unit, finalize)
        elif self.verbose == 2 and finalize and self.target:
            digits = int(math.log10(self.target)) + 1
            line = f"{current:{digits}d}/{self.target} - {now - self._start:.0f}s -"
            line += _format_time_per_unit(per_unit, self.unit_name) + self._metrics_text(absolute=False)
            print_msg(line)
        self._last_update = now

    def _draw_bar(self, current: int, now: float, per_unit: float, finalize: bool) -> None:
        message = ("\b" * self._prev_total_width + "\r") if self._dynamic_display else "\n"
        hidden = 0  # Length of the escape codes, which take no room on screen.
        if self.target:
            digits = int(math.log10(self.target)) + 1
            bar = f"{_BOLD}{current:{digits}d}/{self.target}{_RESET} "
            hidden += len(_BOLD) + len(_RESET)
            filled = int(self.width * current / self.target)
            if filled > 0:
                bar += f"{_GREEN}{'━' * filled}{_RESET}"
                hidden += len(_GREEN) + len(_RESET)
            bar += f"{_GREY}{'━' * (self.width - filled)}{_RESET}"
            hidden += len(_GREY) + len(_RESET)
        else:
            bar = f"{current:7d}/Unknown"
        if self.target and not finalize:
            info = f" {_BOLD}{_format_eta(per_unit * (self.target - current))}{_RESET}"
        else:
            info = f" {_BOLD}{now - self._start:.0f}s{_RESET}"
        hidden += len(_BOLD) + len(_RESET)
        info += _format_time_per_unit(per_unit, self.unit_name) + self._metrics_text(absolute=True)
        total_width = len(bar) + len(info) - hidden
        message += bar + info
        if self._prev_total_width > total_width:
            message += " " * (self._prev_total_width - total_width)
        if finalize:
            message += "\n"
        print_msg(message, line_break=False)
        self._prev_total_width = total_width

    def add(self, n: int, values: Iterable[tuple[str, float]] | None = None) -> None:
        """Advances the bar by `n` steps."""
        self.update(self._seen_so_far + n, values)

"""The words of a result: progress on stderr, numbers, verdicts against targets, markdown tables."""
from __future__ import annotations

import math
import shlex
import sys
import time
from pathlib import Path

STARTED = time.perf_counter()


def progress(message: str) -> None:
    """A line on stderr, with the seconds since the bench started (stdout is the report's)."""
    print(f"[{time.perf_counter() - STARTED:6.1f} s] {message}", file=sys.stderr, flush=True)


def fmt(value: float, digits: int = 0) -> str:
    return "n/a" if math.isnan(value) else f"{value:,.{digits}f}"


def verdict(value: float, target: float, unit: str, higher_is_better: bool = False) -> str:
    """``met``, or ``**missed** by`` how much, against a target (``higher_is_better`` for rates)."""
    if math.isnan(value):
        return "not measured"
    if (value >= target) if higher_is_better else (value <= target):
        return "met"
    gap = abs(value - target)
    digits = 0 if unit == "ms" else 1 if unit == "MB" else 2
    share = f"{gap / target:.1%}" if gap / target < 0.1 else f"{gap / target:.0%}"
    return f"**missed** by {gap:,.{digits}f} {unit} ({share} {'short' if higher_is_better else 'over'})"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def display_command(command: list[str], tmp: Path | None = None) -> str:
    """A command as a reader would type it: the program by its name (``python`` for this interpreter), the
    run's temp dir as ``<tmp>``."""
    program = "python" if command[0] == sys.executable else Path(command[0]).name
    text = shlex.join([program, *command[1:]])
    return text.replace(str(tmp), "<tmp>") if tmp else text


def write_report(text: str, out: Path | None) -> None:
    """Print the report and write it to ``out`` (when given)."""
    print(text)
    if out is not None:
        out.write_text(text)
        progress(f"wrote {out}")

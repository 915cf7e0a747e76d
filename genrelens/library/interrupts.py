"""Ctrl-C and SIGTERM in the tagger: no temporary copy outlives them, and the run ends saying what it did.

- **The main process** (``caught``): SIGINT and SIGTERM delete the copy being tagged here, if any
  (``--server`` mode tags here), and raise ``Interrupted`` in the main thread, once. The run then ends
  the pool and prints its summary; the exit code is 130 for SIGINT, 143 for SIGTERM. A signal that
  comes while a row is being written (``held``) waits until the row is on the disk and counted, so the
  summary counts exactly the rows in the CSV. Later signals only delete copies again.
- **A local pool's worker** (``exit_on_sigterm``): SIGINT is ignored (Ctrl-C reaches the whole process
  group; the parent decides), SIGTERM (what the parent's ``Pool.terminate`` sends, or a ``kill`` of
  the whole group) deletes the copy this worker is writing and ends the process at once.

``Interrupted`` is a ``BaseException``, like ``KeyboardInterrupt``, so no ``except Exception`` on the way
(logging's handlers have one) can swallow it.
"""
from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager

from genrelens.library.file_tags import remove_copies_in_progress

SIGNALS = (signal.SIGINT, signal.SIGTERM)
HOW = {signal.SIGINT: "interrupted (Ctrl-C, SIGINT)", signal.SIGTERM: "stopped (SIGTERM)"}


class Interrupted(BaseException):
    """SIGINT or SIGTERM reached the main process."""

    def __init__(self, signum: int):
        super().__init__(HOW.get(signum, signal.Signals(signum).name))
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum  # what a shell reports for a process a signal ended: 130, 143


class _State:
    caught: int | None = None  # the first signal
    raised = False
    holding = False


_state = _State()


def _on_signal(signum: int, frame) -> None:
    remove_copies_in_progress()
    if _state.caught is None:
        _state.caught = signum
    if not _state.holding and not _state.raised:
        _state.raised = True
        raise Interrupted(signum)


@contextmanager
def caught() -> Iterator[None]:
    """SIGINT and SIGTERM raise ``Interrupted`` in here (the main thread); the old handlers come back after."""
    previous = {signum: signal.signal(signum, _on_signal) for signum in SIGNALS}
    _state.caught, _state.raised, _state.holding = None, False, False
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextmanager
def held() -> Iterator[None]:
    """A signal that comes in here is raised when the block ends, not in the middle of it."""
    _state.holding = True
    try:
        yield
    finally:
        _state.holding = False
    if _state.caught is not None and not _state.raised:
        _state.raised = True
        raise Interrupted(_state.caught)


def exit_on_sigterm() -> None:
    """For a pool worker: Ctrl-C is the parent's; SIGTERM removes this worker's copy and ends it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _exit_now)


def _exit_now(signum: int, frame) -> None:
    remove_copies_in_progress()
    os._exit(128 + signum)

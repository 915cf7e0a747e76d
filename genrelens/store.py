"""A small on-disk store of analyses: any gunicorn worker can serve any id, and restarts keep it.

One folder per id: ``result.json``, ``signal.npy`` (float16, for the pictures) and the pictures
drawn so far. Entries expire after ``ttl_s``; when the store grows past ``max_bytes`` the oldest
go first. Ids are random hex and checked against a strict pattern, so no id reaches outside.
"""
from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

_ID = re.compile(r"^[0-9a-f]{16}$")
RESULT = "result.json"
SIGNAL = "signal.npy"
PRUNE_EVERY_S = 5.0


class AnalysisStore:
    def __init__(self, root: Path | str, max_bytes: int, ttl_s: float):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.ttl_s = ttl_s
        self._last_prune = float("-inf")

    @staticmethod
    def new_id() -> str:
        return secrets.token_hex(8)

    def _folder(self, analysis_id: str) -> Path | None:
        if not isinstance(analysis_id, str) or not _ID.match(analysis_id):
            return None
        folder = self.root / analysis_id
        if not folder.is_dir() or self._expired(folder):
            return None
        return folder

    def _expired(self, folder: Path) -> bool:
        try:
            return time.time() - _born(folder) > self.ttl_s
        except FileNotFoundError:
            return True

    def put(self, analysis_id: str, result: dict, signal: np.ndarray) -> None:
        """Write the entry whole (in a hidden folder, then renamed) and keep the store in bounds."""
        staging = Path(tempfile.mkdtemp(prefix=".incoming-", dir=self.root))
        try:
            np.save(staging / SIGNAL, signal.astype(np.float16))
            (staging / RESULT).write_text(json.dumps(result))
            staging.rename(self.root / analysis_id)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        if time.monotonic() - self._last_prune > PRUNE_EVERY_S:
            self.prune(keep=analysis_id)

    def result(self, analysis_id: str) -> dict | None:
        folder = self._folder(analysis_id)
        if folder is None:
            return None
        try:
            return json.loads((folder / RESULT).read_text())
        except FileNotFoundError:  # pruned meanwhile by another worker
            return None

    def signal(self, analysis_id: str) -> np.ndarray | None:
        folder = self._folder(analysis_id)
        if folder is None:
            return None
        try:
            return np.load(folder / SIGNAL).astype(np.float32)
        except FileNotFoundError:
            return None

    def picture(self, analysis_id: str, kind: str) -> bytes | None:
        folder = self._folder(analysis_id)
        try:
            return (folder / f"{kind}.png").read_bytes() if folder else None
        except FileNotFoundError:
            return None

    def put_picture(self, analysis_id: str, kind: str, png: bytes) -> None:
        folder = self._folder(analysis_id)
        if folder is None:
            return
        tmp = None
        try:  # another worker may prune the entry at any moment: then there is nothing to cache
            fd, tmp = tempfile.mkstemp(prefix=".png-", dir=folder)
            with os.fdopen(fd, "wb") as out:
                out.write(png)
            os.replace(tmp, folder / f"{kind}.png")
        except FileNotFoundError:
            if tmp:
                Path(tmp).unlink(missing_ok=True)

    def prune(self, keep: str | None = None) -> None:
        """Drop expired entries and stale staging folders, then the oldest until under ``max_bytes``.

        Walking the store costs more as it fills, so ``put`` prunes at most every PRUNE_EVERY_S; the
        store may exceed its cap by what arrives in that time. ``keep`` (the entry just written) is
        never evicted for size, so even an entry larger than the cap can be read back. Other workers
        prune the same folders: one that vanishes mid-walk is simply skipped.
        """
        self._last_prune = time.monotonic()
        entries = []
        for folder in self.root.iterdir():
            try:
                born = _born(folder)
            except FileNotFoundError:
                continue
            age = time.time() - born
            if age > self.ttl_s or (folder.name.startswith(".") and age > 600):
                shutil.rmtree(folder, ignore_errors=True)
            elif _ID.match(folder.name):
                try:
                    size = sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
                except FileNotFoundError:  # deleted by another worker meanwhile
                    continue
                entries.append((born, size, folder))
        total = sum(size for _, size, _ in entries)
        for _, size, folder in sorted(entries):
            if folder.name == keep:
                continue
            if total <= self.max_bytes:
                break
            shutil.rmtree(folder, ignore_errors=True)
            total -= size


def _born(folder: Path) -> float:
    """When an entry was stored: its ``result.json``, written once (a new picture touches the folder,
    and must not make the entry younger); a staging folder without one: the folder itself."""
    try:
        return (folder / RESULT).stat().st_mtime
    except (FileNotFoundError, NotADirectoryError):
        return folder.stat().st_mtime

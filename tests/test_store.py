"""The on-disk analysis store: bounded, expiring, shared between processes, closed to odd ids."""
from __future__ import annotations

import os
import time

import numpy as np

from genrelens.store import AnalysisStore


def signal(seconds: float) -> np.ndarray:
    return np.linspace(-0.5, 0.5, int(seconds * 22050), dtype=np.float32)


def stored_at(folder, when: float) -> None:
    """Pretend the entry in ``folder`` was stored at ``when``: its files and the folder itself."""
    for path in (*folder.iterdir(), folder):
        os.utime(path, (when, when))


def test_round_trip_and_a_second_instance_sees_it(tmp_path):
    store = AnalysisStore(tmp_path, max_bytes=10_000_000, ttl_s=60)
    key = store.new_id()
    store.put(key, {"genre": "jazz"}, signal(2))
    other = AnalysisStore(tmp_path, max_bytes=10_000_000, ttl_s=60)  # another worker, or after a restart
    assert other.result(key) == {"genre": "jazz"}
    np.testing.assert_allclose(other.signal(key), signal(2), atol=1e-3)
    other.put_picture(key, "waveform", b"\x89PNG fake")
    assert store.picture(key, "waveform") == b"\x89PNG fake"


def test_entries_expire(tmp_path):
    store = AnalysisStore(tmp_path, max_bytes=10_000_000, ttl_s=60)
    key = store.new_id()
    store.put(key, {}, signal(1))
    stored_at(tmp_path / key, time.time() - 120)
    assert store.result(key) is None and store.signal(key) is None
    store.prune()
    assert not (tmp_path / key).exists()


def test_size_cap_drops_the_oldest(tmp_path):
    store = AnalysisStore(tmp_path, max_bytes=200_000, ttl_s=600)  # room for two 2-s signals (88 kB each)
    keys = []
    for age in range(4):
        key = store.new_id()
        store.put(key, {"n": age}, signal(2))
        stored_at(tmp_path / key, time.time() - 100 + age)
        keys.append(key)
    store.prune()
    assert [store.result(k) is not None for k in keys] == [False, False, True, True]


def test_ids_cannot_reach_outside(tmp_path):
    store = AnalysisStore(tmp_path / "store", max_bytes=10_000_000, ttl_s=60)
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "result.json").write_text("{}")
    for bad in ("../secret", "..", "", "0123456789ABCDEF", "0123456789abcde", "0123456789abcdef/..", None):
        assert store.result(bad) is None and store.signal(bad) is None and store.picture(bad, "mfcc") is None


def test_a_new_picture_does_not_make_an_entry_younger(tmp_path):
    """Stored 70 s ago with a 60-s life, a picture drawn 20 s ago: the entry has expired all the same."""
    store = AnalysisStore(tmp_path, max_bytes=10_000_000, ttl_s=60)
    key = store.new_id()
    store.put(key, {"genre": "jazz"}, signal(1))
    store.put_picture(key, "waveform", b"\x89PNG fake")
    now = time.time()
    os.utime(tmp_path / key / "result.json", (now - 70, now - 70))
    os.utime(tmp_path / key, (now - 20, now - 20))  # the picture's write touched the folder
    assert store.result(key) is None and store.picture(key, "waveform") is None
    store.prune()
    assert not (tmp_path / key).exists()


def test_an_entry_larger_than_the_cap_can_still_be_read_back(tmp_path):
    store = AnalysisStore(tmp_path, max_bytes=1_000, ttl_s=60)
    older = store.new_id()
    store.put(older, {"n": 0}, signal(1))
    store._last_prune = float("-inf")  # the next put prunes
    key = store.new_id()
    store.put(key, {"n": 1}, signal(2))  # 88 kB against a 1-kB cap
    assert store.result(key) == {"n": 1}
    assert store.result(older) is None, "the older entry makes room"


def test_prune_skips_an_entry_another_worker_deletes_meanwhile(tmp_path, monkeypatch):
    import shutil
    from pathlib import Path

    store = AnalysisStore(tmp_path, max_bytes=10_000_000, ttl_s=60)
    keys = [store.new_id() for _ in range(3)]
    for key in keys:
        store.put(key, {}, signal(1))
    real_iterdir = Path.iterdir

    def racing_iterdir(self):
        if self.parent == tmp_path and self.name == keys[1]:
            shutil.rmtree(self)  # the other worker's prune got there first
        return real_iterdir(self)

    monkeypatch.setattr(Path, "iterdir", racing_iterdir)
    store.prune()
    assert [store.result(k) is not None for k in keys] == [True, False, True]


def test_a_picture_for_an_entry_pruned_while_it_was_drawn_is_dropped_quietly(tmp_path, monkeypatch):
    import shutil
    import tempfile as tempfile_module

    store = AnalysisStore(tmp_path, max_bytes=10_000_000, ttl_s=60)
    key = store.new_id()
    store.put(key, {}, signal(1))
    real_mkstemp = tempfile_module.mkstemp

    def pruned_first(*args, **kwargs):
        shutil.rmtree(tmp_path / key)  # another worker pruned the entry while the picture was drawn
        return real_mkstemp(*args, **kwargs)

    monkeypatch.setattr(tempfile_module, "mkstemp", pruned_first)
    store.put_picture(key, "waveform", b"\x89PNG fake")  # no exception: there is just nothing to cache
    assert store.picture(key, "waveform") is None and not (tmp_path / key).exists()

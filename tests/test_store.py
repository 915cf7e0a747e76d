"""The analysis store on a real SQLite file: results last, audio is bounded, the same audio and model
are stored once, and several processes can write at the same time."""
from __future__ import annotations

import multiprocessing
import time

import numpy as np
from sqlalchemy import func, select, update

from genrelens.jobs.database import Database, analyses, pictures, results, signals
from genrelens.jobs.store import AnalysisStore


def signal(seconds: float) -> np.ndarray:
    return np.linspace(-0.5, 0.5, int(seconds * 22050), dtype=np.float32)


def open_store(tmp_path, max_bytes: int = 10_000_000, ttl_s: float = 60) -> AnalysisStore:
    return AnalysisStore(Database(f"sqlite:///{tmp_path / 'store.sqlite3'}"), max_bytes=max_bytes, ttl_s=ttl_s)


def stored_at(store: AnalysisStore, analysis_id: str, when: float) -> None:
    with store.db.write() as connection:
        result_id = connection.scalar(select(analyses.c.result_id).where(analyses.c.id == analysis_id))
        connection.execute(update(signals).where(signals.c.result_id == result_id).values(stored_at=when))


def put(store: AnalysisStore, result: dict, samples: np.ndarray) -> str:
    """An analysis of a result matched by nothing (no audio hash), as a test makes one."""
    return store.attach(store.add(result, samples)[0], result.get("filename", "test.mp3"), samples)


def count(store: AnalysisStore, table) -> int:
    with store.db.read() as connection:
        return connection.scalar(select(func.count()).select_from(table))


def test_round_trip_and_a_second_instance_sees_it(tmp_path):
    store = open_store(tmp_path)
    key = put(store, {"filename": "a.mp3", "genre": "jazz"}, signal(2))
    other = open_store(tmp_path)  # another worker, or after a restart
    assert other.result(key) == {"filename": "a.mp3", "genre": "jazz"}
    np.testing.assert_allclose(other.signal(key), signal(2), atol=1e-3)
    other.put_picture(key, "waveform", b"\x89PNG drawn")
    assert store.picture(key, "waveform") == b"\x89PNG drawn"
    other.put_picture(key, "waveform", b"\x89PNG drawn again")  # another node drew it too: the first stays
    assert store.picture(key, "waveform") == b"\x89PNG drawn"


def test_audio_expires_and_the_result_stays(tmp_path):
    store = open_store(tmp_path, ttl_s=60)
    key = put(store, {"filename": "b.mp3", "genre": "rock"}, signal(1))
    store.put_picture(key, "mfcc", b"png")
    stored_at(store, key, time.time() - 120)
    assert store.signal(key) is None and store.picture(key, "mfcc") is None
    assert store.result(key) == {"filename": "b.mp3", "genre": "rock"}
    store.prune()
    assert count(store, signals) == 0 and count(store, pictures) == 0
    assert count(store, analyses) == 1 and count(store, results) == 1


def test_size_cap_drops_the_oldest_audio(tmp_path):
    one = signal(1).astype(np.float16).nbytes
    store = open_store(tmp_path, max_bytes=int(2.5 * one), ttl_s=3600)
    keys = []
    for age in (300, 200, 100):
        key = put(store, {}, signal(1))
        stored_at(store, key, time.time() - age)
        keys.append(key)
    store.prune()
    assert store.signal(keys[0]) is None
    assert store.signal(keys[1]) is not None and store.signal(keys[2]) is not None


def test_an_entry_larger_than_the_cap_can_still_be_read_back(tmp_path):
    store = open_store(tmp_path, max_bytes=1000)
    result_id, cached = store.add({"genre": "metal"}, signal(3))
    assert not cached
    key = store.attach(result_id, "big.wav", signal(3))
    store.prune(keep=result_id)
    assert store.signal(key) is not None


def test_odd_ids_find_nothing(tmp_path):
    store = open_store(tmp_path)
    for odd in ("../x", "0123", "' OR 1=1 --", None, 7, "0123456789ABCDEF"):
        assert store.result(odd) is None and store.signal(odd) is None and store.picture(odd, "waveform") is None


def test_the_same_audio_and_model_share_one_result_under_each_uploads_own_name(tmp_path):
    store = open_store(tmp_path)
    first_result, cached = store.add({"filename": "ignored.mp3", "genre": "jazz"}, signal(1), "hash-a", "musicnn@1")
    again_result, cached_again = store.add({"genre": "other"}, signal(1), "hash-a", "musicnn@1")
    assert not cached and cached_again and again_result == first_result == store.find("hash-a", "musicnn@1")
    assert store.result_body(first_result) == {"genre": "jazz"}  # stored once, without any upload's name
    mine = store.attach(first_result, "mine.mp3", signal(1))
    yours = store.attach(first_result, "yours.mp3", signal(1))
    assert mine != yours
    assert store.result(mine) == {"filename": "mine.mp3", "genre": "jazz"}
    assert store.result(yours) == {"filename": "yours.mp3", "genre": "jazz"}  # the work shared, never the name
    other_model, cached = store.add({"genre": "blues"}, signal(1), "hash-a", "student@1")
    assert not cached and other_model != first_result and store.find("hash-a", "student@2") is None
    assert count(store, results) == 2 and count(store, analyses) == 2


def test_an_expired_signal_is_put_back_when_the_same_audio_comes_again(tmp_path):
    store = open_store(tmp_path)
    result_id, _ = store.add({}, signal(1), "hash-b", "musicnn@1")
    key = store.attach(result_id, "a.mp3", signal(1))
    stored_at(store, key, time.time() - 3600)
    store.prune()
    assert store.signal(key) is None
    store.attach(store.find("hash-b", "musicnn@1"), "again.mp3", signal(1))
    assert store.signal(key) is not None  # the first analysis' pictures can be drawn again too


def _add_many(path: str, worker: int, queue) -> None:
    store = AnalysisStore(Database(f"sqlite:///{path}"), max_bytes=10_000_000, ttl_s=60)
    named = [store.attach(store.add({"worker": worker}, signal(0.2), f"hash-{n}", "musicnn@1")[0], f"w{worker}.mp3",
                          signal(0.2)) for n in range(30)]
    queue.put([store.result(analysis_id)["worker"] for analysis_id in named])


def test_processes_adding_the_same_audio_at_once_store_it_once(tmp_path):
    """Four processes store the same 30 keys at the same time: no "database is locked", one result per
    key (the first to store it), and an analysis for each of the 120 stores."""
    path = str(tmp_path / "store.sqlite3")
    open_store(tmp_path)  # the tables
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    workers = [context.Process(target=_add_many, args=(path, n, queue)) for n in range(4)]
    for process in workers:
        process.start()
    answers = [queue.get(timeout=120) for _ in workers]
    for process in workers:
        process.join(timeout=60)
        assert process.exitcode == 0
    assert all(answer == answers[0] for answer in answers), "every process sees the same result for each key"
    store = open_store(tmp_path)
    assert count(store, results) == 30 and count(store, analyses) == 120


def bytes_read() -> int:
    """Bytes this process has read through read()/pread() so far, served from the page cache or not."""
    with open("/proc/self/io") as io:
        return next(int(line.split()[1]) for line in io if line.startswith("rchar:"))


def test_a_store_at_its_cap_reads_sizes_not_audio_to_stay_under_it(tmp_path):
    """Issue 25, item 13: at the cap, every prune read the whole store (a column after a megabyte BLOB is
    reached through the BLOB's overflow pages), which doubled the time of every upload. Bytes read are
    counted, not time: 60 stored signals of 1.3 MB, one more, one prune."""
    one = signal(30)
    store = open_store(tmp_path, max_bytes=60 * one.astype(np.float16).nbytes, ttl_s=3600)
    for n in range(60):
        one[0] = n / 1000  # each its own audio
        put(store, {"n": n}, one)
    stored = count(store, signals) * one.astype(np.float16).nbytes
    fresh = open_store(tmp_path, max_bytes=store.max_bytes, ttl_s=3600)  # a new process: nothing cached
    one[0] = 1.0
    before = bytes_read()
    put(fresh, {"n": "new"}, one)
    fresh.prune()
    read = bytes_read() - before
    assert count(fresh, signals) == 60, "the oldest signal made room for the new one"
    assert read < stored / 10, f"{read / 1048576:.0f} MB read to keep {stored / 1048576:.0f} MB under its cap"

"""The networks on ONNX Runtime answer as on LiteRT, and MODEL_RUNTIME picks the engine (genrelens/models/runtimes.py).

Parity is checked on audio made here, encoded by real ffmpeg and decoded by the service, fed to each
network exactly as an upload's is. TOLERANCE is the export's (training/export_onnx.py): the largest
difference of any output relative to that output's largest magnitude (at least 1). Both engines compute
in float32 in different orders; the export measured 2.5e-6 at most, so 1e-4 leaves room for other CPUs'
kernels while still catching a wrong graph, a wrong input layout or outputs taken in the wrong order.
"""
from __future__ import annotations

import hashlib
import json
import multiprocessing
import os

import numpy as np
import pytest

from conftest import ROOT, chord, clicks, four_on_the_floor, noise, pad, piano, write_audio
from genrelens.models.runtimes import (LITERT, ONNXRUNTIME, RUNTIMES_FILE, Network, RuntimeUnavailable, choose,
                                       recorded_winners)

MODELS = ROOT / "models"
TOLERANCE = 1e-4
NETWORKS = ("musicnn", "student", "mfcc_cnn")


def relative_difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / max(1.0, np.abs(b).max()))


@pytest.fixture(scope="module")
def classifiers():
    from genrelens.analysis.pipeline import GenreClassifier

    return {runtime: GenreClassifier(MODELS, runtime=runtime) for runtime in (LITERT, ONNXRUNTIME)}


@pytest.fixture(scope="module")
def songs(tmp_path_factory):
    """Four different pieces as MP3s: drums and chords, a house beat, a piano melody, a pad over noise."""
    folder = tmp_path_factory.mktemp("runtime-audio")
    pieces = {"band": chord(15.0) + clicks(15.0), "house": four_on_the_floor(15.0) + 0.3 * pad(15.0),
              "piano": piano(15.0, seed=4), "hiss": pad(12.0, seed=2) + 0.3 * noise(12.0)}
    return {name: write_audio(folder / f"{name}.mp3", np.clip(signal, -1, 1).astype(np.float32), bitrate="128k")
            for name, signal in pieces.items()}


@pytest.fixture(scope="module")
def inputs(classifiers, songs):
    """Each network's inputs for every song, stacked: what the service would feed it."""
    lite = classifiers[LITERT]
    per_song = [lite.network_inputs(lite.decode(str(path)).samples) for path in songs.values()]
    return {name: np.concatenate([song[name] for song in per_song]) for name in NETWORKS}


def networks_of(classifier) -> dict:
    return {"musicnn": classifier.musicnn.network.network, "student": classifier.student.network.network,
            "mfcc_cnn": classifier.predictor._network}


@pytest.mark.parametrize("name", NETWORKS)
def test_every_output_of_every_network_is_the_same_on_both_engines(classifiers, inputs, name):
    """Tags, penultimate and pooled features (musicnn); genres, tags, styles, embedding (the student);
    genre probabilities (the MFCC CNN), on every segment of every song."""
    lite, ort = (networks_of(classifiers[r])[name] for r in (LITERT, ONNXRUNTIME))
    assert (lite.runtime, ort.runtime) == (LITERT, ONNXRUNTIME)
    assert len(inputs[name]) >= 12
    ours, theirs = ort.run(inputs[name]), lite.run(inputs[name])
    assert set(ours) == set(theirs) == set(lite.spec.outputs)
    for output in ours:
        assert ours[output].shape == theirs[output].shape == (len(inputs[name]), lite.spec.outputs[output])
        assert relative_difference(ours[output], theirs[output]) < TOLERANCE, output
    first = next(iter(lite.spec.outputs))
    assert len({int(row.argmax()) for row in theirs[first]}) >= 2, "the songs must not all look alike to it"


def test_the_outputs_are_taken_by_name_not_by_position(classifiers, inputs):
    """Widths tell the outputs apart: a mix-up would compare tags with penultimate features, so check
    the values look like what they are (tags are probabilities, pooled features are not)."""
    out = networks_of(classifiers[ONNXRUNTIME])["musicnn"].run(inputs["musicnn"][:3])
    assert out["tags"].min() >= 0 and out["tags"].max() <= 1
    assert np.abs(out["pooled"]).max() > 1


@pytest.mark.parametrize("model", ["musicnn", "student", "mfcc_cnn", "ensemble"])
def test_the_final_answer_is_the_same_on_both_engines(classifiers, songs, model):
    """Each model's whole answer for each song: the same top genre, the same genres within rounding, the
    same segment genres and the same strongest tags."""
    for path in songs.values():
        lite, ort = (classifiers[r].analyze_file(str(path), model)[0] for r in (LITERT, ONNXRUNTIME))
        assert ort.genre == lite.genre
        ours, theirs = ({g["genre"]: g["probability"] for g in a.genres} for a in (ort, lite))
        assert max(abs(ours[g] - theirs[g]) for g in theirs) <= 2e-4
        assert [s["genre"] for s in ort.segments] == [s["genre"] for s in lite.segments]
        assert [t["tag"] for t in ort.tags[:5]] == [t["tag"] for t in lite.tags[:5]]


def test_each_answer_names_the_engine_that_ran_it(classifiers):
    signal = chord(6.0)
    named = {runtime: {m: c.analyze_signal(signal, 6.0, m).model["backend"] for m in c.models}
             for runtime, c in classifiers.items()}
    assert named[LITERT] == {"student": "tflite", "musicnn": "tflite", "mfcc_cnn": "tflite", "ensemble": "tflite"}
    assert named[ONNXRUNTIME] == dict.fromkeys(("student", "musicnn", "mfcc_cnn", "ensemble"), "onnxruntime")
    # an answer from one engine is never taken for the other's (the store keys results by model_key)
    assert classifiers[LITERT].model_key("musicnn") != classifiers[ONNXRUNTIME].model_key("musicnn")


def test_the_onnx_files_come_from_the_committed_tflite_files():
    """models/onnx_sources.json names each .onnx's source and its SHA-256: a retrained .tflite without
    a fresh export (python -m training.export_onnx) fails here."""
    sources = json.loads((MODELS / "onnx_sources.json").read_text())
    assert set(sources) == {"musicnn_msd.onnx", "student.onnx", "genre_cnn.onnx"}
    for onnx, entry in sources.items():
        assert (MODELS / onnx).stat().st_size > 100_000
        assert entry["source"] == onnx.replace(".onnx", ".tflite")
        assert hashlib.sha256((MODELS / entry["source"]).read_bytes()).hexdigest() == entry["source_sha256"], onnx
        assert max(entry["max_relative_difference"].values()) < TOLERANCE


def test_onnx_runtime_runs_one_thread_that_does_not_spin(classifiers):
    network = networks_of(classifiers[ONNXRUNTIME])["musicnn"]
    network.connect()
    options = network._engine._session.get_session_options()
    assert (options.intra_op_num_threads, options.inter_op_num_threads) == (1, 1)
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def _run_in_child(network, patch, queue):
    queue.put((os.getpid(), network.run(patch)["tags"]))


def test_a_forked_worker_makes_its_own_session_and_answers_the_same(classifiers, inputs):
    """gunicorn --preload: the master's engine is never used in a worker; the worker makes one on first use."""
    network = networks_of(classifiers[ONNXRUNTIME])["musicnn"]
    patch = inputs["musicnn"][:2]
    here = network.run(patch)["tags"]
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_run_in_child, args=(network, patch, queue))
    child.start()
    pid, there = queue.get(timeout=120)
    child.join(timeout=60)
    assert child.exitcode == 0 and pid != os.getpid()
    np.testing.assert_array_equal(there, here)
    assert network._pid == os.getpid(), "the parent's engine is its own still"


def test_release_leaves_no_engine_in_the_parent(classifiers):
    """What gunicorn's master calls before forking: every network's engine dropped, rebuilt on next use."""
    classifier = classifiers[ONNXRUNTIME]
    classifier.analyze_signal(chord(4.0), 4.0, "ensemble")
    classifier.release()
    assert all(network._engine is None for network in networks_of(classifier).values())
    assert classifier.analyze_signal(chord(4.0), 4.0, "student").model["backend"] == "onnxruntime"


# --- the setting -------------------------------------------------------------------------------------------


def test_model_runtime_is_read_with_a_documented_default():
    from genrelens.settings import settings_from_env, worker_environment

    assert settings_from_env({})["MODEL_RUNTIME"] == "auto"
    for value in ("auto", "litert", "onnxruntime"):
        settings = settings_from_env({"MODEL_RUNTIME": value})
        assert settings["MODEL_RUNTIME"] == value
        assert worker_environment(settings)["MODEL_RUNTIME"] == value  # the job pool's processes get it too


@pytest.mark.parametrize("value", ["tflite", "ONNX", "openvino", " auto"])
def test_a_bad_model_runtime_stops_the_start_with_a_clear_error(monkeypatch, value):
    from genrelens.settings import settings_from_env
    from genrelens.web.factory import create_app

    with pytest.raises(ValueError, match=r"MODEL_RUNTIME=.* is not one of auto, litert, onnxruntime"):
        settings_from_env({"MODEL_RUNTIME": value})
    monkeypatch.setenv("MODEL_RUNTIME", value)
    with pytest.raises(ValueError, match="is not one of auto, litert, onnxruntime"):
        create_app()


def test_the_batch_command_refuses_a_bad_model_runtime_before_any_work(tmp_path):
    import subprocess
    import sys

    song = write_audio(tmp_path / "song.wav", chord(4.0))
    done = subprocess.run([sys.executable, str(ROOT / "music_genre_classifier.py"), str(song)], capture_output=True,
                          text=True, timeout=120, cwd=ROOT, env={**os.environ, "MODEL_RUNTIME": "fastest"})
    assert done.returncode != 0
    assert "MODEL_RUNTIME='fastest' is not one of auto, litert, onnxruntime" in done.stderr


@pytest.fixture()
def model_copy(tmp_path):
    """The committed model folder, file by file (links), without its runtimes.json."""
    folder = tmp_path / "models"
    folder.mkdir()
    for path in MODELS.iterdir():
        if path.is_file() and path.name != RUNTIMES_FILE:
            os.symlink(path, folder / path.name)
    return folder


def engines_of(classifier) -> dict:
    return {name: network.runtime for name, network in networks_of(classifier).items()}


def test_auto_takes_each_networks_recorded_winner(model_copy):
    from genrelens.analysis.pipeline import GenreClassifier

    winners = {"musicnn": ONNXRUNTIME, "student": LITERT, "mfcc_cnn": ONNXRUNTIME}
    (model_copy / RUNTIMES_FILE).write_text(json.dumps({"networks": {n: {"runtime": r} for n, r in winners.items()}}))
    assert recorded_winners(model_copy) == winners
    assert engines_of(GenreClassifier(model_copy, runtime="auto")) == winners
    named = GenreClassifier(model_copy, runtime="auto").analyze_signal(chord(4.0), 4.0, "ensemble").model["backend"]
    assert named == "onnxruntime"  # the MFCC CNN's and musicnn's engine, once
    assert set(engines_of(GenreClassifier(model_copy, runtime="litert")).values()) == {LITERT}
    assert set(engines_of(GenreClassifier(model_copy, runtime="onnxruntime")).values()) == {ONNXRUNTIME}


def test_auto_falls_back_to_litert_without_a_record_or_a_file(model_copy, caplog):
    from genrelens.analysis.pipeline import GenreClassifier

    assert set(engines_of(GenreClassifier(model_copy, runtime="auto")).values()) == {LITERT}  # no runtimes.json
    (model_copy / RUNTIMES_FILE).write_text(json.dumps({"networks": {
        "musicnn": {"runtime": ONNXRUNTIME}, "student": {"runtime": "openvino"}}}))  # mfcc_cnn not named
    (model_copy / "musicnn_msd.onnx").unlink()
    assert set(engines_of(GenreClassifier(model_copy, runtime="auto")).values()) == {LITERT}
    assert "musicnn: onnxruntime recorded in runtimes.json cannot run here" in caplog.text


def test_a_named_engine_that_cannot_run_a_network_fails_at_start(model_copy):
    from genrelens.analysis.pipeline import GenreClassifier
    from genrelens.models.musicnn import MusicnnNetwork

    (model_copy / "student.onnx").unlink()
    with pytest.raises(RuntimeUnavailable, match="student.onnx is missing"):
        GenreClassifier(model_copy, runtime="onnxruntime")
    with pytest.raises(ValueError, match="not one of auto, litert, onnxruntime"):
        choose(MusicnnNetwork.SPEC, model_copy, "fast")
    with pytest.raises(ValueError, match="unknown runtime"):
        Network(MusicnnNetwork.SPEC, model_copy, "auto")


def test_the_committed_record_names_a_served_engine_for_every_network():
    """models/runtimes.json, written by bench/bench_runtimes.py --write: what MODEL_RUNTIME=auto serves."""
    record = json.loads((MODELS / RUNTIMES_FILE).read_text())
    assert set(record["networks"]) == set(NETWORKS)
    for entry in record["networks"].values():
        assert entry["runtime"] in (LITERT, ONNXRUNTIME)
        assert set(entry["p50_ms"]) == {LITERT, ONNXRUNTIME}
    assert "bench/bench_runtimes.py" in record["written_by"]


def test_no_tensorflow_is_loaded_to_serve_on_either_engine():
    import subprocess
    import sys

    code = ("import sys, numpy as np; from genrelens.analysis.pipeline import GenreClassifier\n"
            "for r in ('litert', 'onnxruntime'):\n"
            "    c = GenreClassifier(runtime=r); c.analyze_signal(np.sin(np.arange(22050 * 4, dtype=np.float32) / 9), 4.0, 'ensemble')\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'tf2onnx')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_the_tagger_refuses_a_bad_model_runtime_in_one_line(tmp_path):
    import subprocess
    import sys

    write_audio(tmp_path / "song.wav", chord(4.0))
    done = subprocess.run([sys.executable, "-m", "genrelens.library", str(tmp_path), "--quiet",
                           "--out", str(tmp_path / "out.csv")], capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env={**os.environ, "MODEL_RUNTIME": "fastest"})
    assert done.returncode == 2
    assert "MODEL_RUNTIME='fastest' is not one of auto, litert, onnxruntime" in done.stderr
    assert "Traceback" not in done.stderr

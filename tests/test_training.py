"""A tiny training run on a synthetic GTZAN-style dataset yields a model the server loads and serves."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from conftest import ROOT, chord, clicks, make_app, noise, upload, write_audio
from genrelens.models import ModelCard, load_predictor
from genrelens.pipeline import FeatureSettings
from training import feature_cache
from training.dataset import scan

GENRES = {"beats": clicks, "noise": noise, "tones": chord}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("tinydata")
    for genre, make in GENRES.items():
        (root / genre).mkdir()
        for clip in range(6):
            write_audio(root / genre / f"{genre}.{clip:05d}.mp3", make(6.5, seed=clip))
        # a 2.5-s piece of clip 0: must stay on clip 0's side of the split
        write_audio(root / genre / f"{genre}.00000.excerpt.mp3", make(2.5, seed=99))
    return root


@pytest.fixture(scope="module")
def trained(dataset, tmp_path_factory):
    from training.train import main

    out = tmp_path_factory.mktemp("tinymodel")
    main(["--data-dir", str(dataset), "--out-dir", str(out / "models"), "--cache-dir", str(out / "cache"),
          "--metrics-dir", str(out / "metrics"), "--mapping", str(out / "genre_mapping.txt"), "--epochs", "3"])
    return out


def test_split_is_by_track_with_every_side_present(dataset):
    files = scan(dataset)
    side = {}
    for f in files:
        assert side.setdefault(f.track, f.split) == f.split, f"{f.track} is on two sides"
    for genre in GENRES:
        assert {f.split for f in files if f.genre == genre} == {"train", "valid", "test"}


def test_split_lists_decide_and_unlisted_tracks_are_left_out(dataset, tmp_path):
    lists = tmp_path / "splits"
    lists.mkdir()
    (lists / "train_filtered.txt").write_text("tones/tones.00000.wav\nnoise/noise.00001.wav\n")
    (lists / "valid_filtered.txt").write_text("beats/beats.00002.wav\n")
    (lists / "test_filtered.txt").write_text("tones/tones.00003.wav\n")
    files = scan(dataset, lists)
    assert sorted((f.path.name, f.split) for f in files) == [
        ("beats.00002.mp3", "valid"), ("noise.00001.mp3", "train"), ("tones.00000.excerpt.mp3", "train"),
        ("tones.00000.mp3", "train"), ("tones.00003.mp3", "test")]


def test_training_writes_everything_the_server_needs(trained, dataset):
    models = trained / "models"
    for name in ("genre_cnn.keras", "genre_cnn.tflite", "model_card.json", "training_history.json"):
        assert (models / name).stat().st_size > 0
    card = json.loads((models / "model_card.json").read_text())
    assert card["genres"] == sorted(GENRES)
    assert (trained / "genre_mapping.txt").read_text() == "beats\nnoise\ntones\n"
    assert card["features"]["n_mfcc"] == FeatureSettings().n_mfcc
    test = card["metrics"]["test"]
    assert test["tracks"] == 3 and 0 <= test["track_accuracy"] <= 1
    for side in ("train", "valid", "test"):
        files = [f for f in scan(dataset) if f.genre == "tones" and f.split == side]
        assert card["data"]["per_genre"]["tones"][side]["files"] == len(files)
        assert card["data"]["per_genre"]["tones"][side]["tracks"] == len({f.track for f in files})
    assert (trained / "metrics" / "confusion_matrix.png").exists()


def test_tflite_and_keras_outputs_agree(trained, dataset):
    models = trained / "models"
    card = ModelCard.load(models)
    batch = np.random.default_rng(0).normal(0, 50, (7, 130, card.features["n_features"])).astype(np.float32)
    np.testing.assert_allclose(load_predictor(models, card, "tflite").predict(batch),
                               load_predictor(models, card, "keras").predict(batch), atol=1e-4)


def test_server_loads_and_serves_the_new_model(trained, tmp_path, audio_dir):
    client = make_app(tmp_path, MODEL_DIR=str(trained / "models")).test_client()
    body = upload(client, write_audio(audio_dir / "tiny.ogg", chord(7, seed=42))).get_json()
    assert [g["genre"] for g in body["genres"]] != [] and {g["genre"] for g in body["genres"]} == set(GENRES)
    assert client.get("/api/model").get_json()["genres"] == sorted(GENRES)


def test_second_run_reads_features_from_the_cache(trained, dataset, monkeypatch):
    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded although cached")

    monkeypatch.setattr(feature_cache, "decode", no_decoding)
    paths = [f.path for f in scan(dataset)]
    segments = feature_cache.load_segments(paths, FeatureSettings(), trained / "cache", workers=1)
    assert len(segments) == len(paths) and all(s.shape[1:] == (130, FeatureSettings().n_features) for s in segments)


@pytest.fixture(scope="module")
def with_head(trained, dataset, tmp_path_factory):
    """The tiny MFCC CNN plus the committed musicnn and a head trained on the tiny dataset."""
    from training.musicnn_head import main

    models = tmp_path_factory.mktemp("withhead") / "models"
    shutil.copytree(trained / "models", models)
    shutil.copy(ROOT / "models" / "musicnn_msd.tflite", models)
    main(["--data-dir", str(dataset), "--model-dir", str(models), "--mfcc-valid-dir", str(trained / "models"),
          "--cache-dir", str(trained / "cache"), "--embedding-cache", str(models.parent / "embeddings"),
          "--metrics-dir", str(models.parent / "metrics"), "--epochs", "30", "--pseudo-excerpts", "1"])
    return models


def test_musicnn_head_is_trained_scored_and_served(with_head, tmp_path, audio_dir):
    card = json.loads((with_head / "musicnn_card.json").read_text())
    assert card["genres"] == sorted(GENRES)
    for name in ("mfcc_cnn", "musicnn", "ensemble"):
        assert card["metrics"][name]["valid"]["tracks"] == 3 and card["metrics"][name]["test"]["tracks"] == 3
    # clicks, noise and chords sound nothing alike: the pretrained ears tell the held-out tracks apart
    assert card["metrics"]["musicnn"]["test"]["track_accuracy"] >= 2 / 3
    assert card["default_model"] in ("mfcc_cnn", "musicnn", "ensemble")
    client = make_app(tmp_path, MODEL_DIR=str(with_head)).test_client()
    body = upload(client, write_audio(audio_dir / "tiny-head.mp3", noise(7, seed=5)), query="?model=musicnn").get_json()
    assert body["model"]["name"] == "musicnn" and len(body["tags"]) == 50
    assert {g["genre"] for g in body["genres"]} == set(GENRES)

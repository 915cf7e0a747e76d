"""A tiny training run on a synthetic GTZAN-style dataset yields a model the server loads and serves."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from conftest import ROOT, chord, clicks, four_on_the_floor, make_app, noise, pad, upload, write_audio
from genrelens.models.mfcc_cnn import ModelCard, load_predictor
from genrelens.analysis.pipeline import FeatureSettings
from training import feature_cache
from training.dataset import load_files, scan

GENRES = {"beats": clicks, "noise": noise, "tones": chord}
ALL_GENRES = sorted([*GENRES, "electronic"])  # with the guide-style folder below


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


# A guide-style electronic folder: <type>/<genre>/<nnnn>.mp3 with INDEX.csv and genres.csv
ELECTRONIC = {("House", "techhouse"): four_on_the_floor, ("Downtempo", "ambienttechno"): pad}


@pytest.fixture(scope="module")
def electronic_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("tinyguide")
    rows, splits = [], ["train", "train", "train", "valid", "test"]
    for (style, genre), make in ELECTRONIC.items():
        (root / style.lower() / genre).mkdir(parents=True)
        for clip, split in enumerate(splits, 1):
            name = f"{style.lower()}/{genre}/{clip:04d}.mp3"
            write_audio(root / name, make(7.0, seed=clip), bitrate="48k")
            rows.append(f"{name},{style},{genre},,,90s,ARTIST {genre.upper()} {clip},TRACK {clip},{1990 + clip},7.0,{split},,")
    (root / "INDEX.csv").write_text("file,type,genre,genre_aka,scene,decade,artist,title,year,duration_s,split,source_swf,"
                                    "source_commit\n" + "\n".join(rows) + "\n")
    (root / "genres.csv").write_text("genre,node,title,aka,type,scene,decade\n"
                                     "techhouse,Tech,Tech House,,House,,90s\nambienttechno,Ambient,Ambient Techno,Ambient,Downtempo,,90s\n")
    return root


@pytest.fixture(scope="module")
def outside_dir(tmp_path_factory):
    """Another collection's clips of two of the tiny genres, laid out as ../shared/data/outside_dev is."""
    root = tmp_path_factory.mktemp("tinyoutside")
    rows = []
    for genre, make in (("tones", chord), ("beats", clicks)):
        (root / genre).mkdir()
        for clip in range(3):
            name = f"{genre}/{clip:04d}.mp3"
            write_audio(root / name, make(6.0, seed=40 + clip), bitrate="48k")
            rows.append(f"{name},{genre},OTHER ARTIST {clip},TITLE {clip},tag,repo,commit")
    (root / "INDEX.csv").write_text("file,genre,artist,title,label_from,source_repo,source_commit\n" + "\n".join(rows) + "\n")
    return root


@pytest.fixture(scope="module")
def trained(dataset, electronic_dir, tmp_path_factory):
    from training.train import main

    out = tmp_path_factory.mktemp("tinymodel")
    main(["--data-dir", str(dataset), "--electronic-dir", str(electronic_dir), "--out-dir", str(out / "models"),
          "--cache-dir", str(out / "cache"), "--reencoded-dir", str(out / "reencoded"), "--metrics-dir", str(out / "metrics"),
          "--mapping", str(out / "genre_mapping.txt"), "--epochs", "3"])
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


def test_training_writes_everything_the_server_needs(trained, dataset, electronic_dir):
    models = trained / "models"
    for name in ("genre_cnn.keras", "genre_cnn.tflite", "model_card.json", "training_history.json"):
        assert (models / name).stat().st_size > 0
    card = json.loads((models / "model_card.json").read_text())
    assert card["genres"] == ALL_GENRES
    assert (trained / "genre_mapping.txt").read_text() == "beats\nelectronic\nnoise\ntones\n"
    assert card["features"]["n_mfcc"] == FeatureSettings().n_mfcc
    test = card["metrics"]["test"]
    assert test["tracks"] == 3 + 2
    # the card's figure, recounted from the served model's own answers on the test files
    model = load_predictor(models, ModelCard.load(models))
    files = [f for f in load_files(dataset, electronic_dir=electronic_dir) if f.split == "test"]
    segments = feature_cache.load_segments([f.path for f in files], FeatureSettings(), trained / "cache")
    votes: dict[str, list] = {}
    for f, segs in zip(files, segments):
        votes.setdefault(f.track, []).append(model.predict(segs))
    right = sum(card["genres"][int(np.concatenate(v).mean(axis=0).argmax())] == next(f.genre for f in files if f.track == t)
                for t, v in votes.items())
    assert test["track_accuracy"] == pytest.approx(right / len(votes), abs=1e-4)
    assert card["data"]["per_genre"]["electronic"]["test"] == {"tracks": 2, "files": 2, "segments": 4}
    for side in ("train", "valid", "test"):
        files = [f for f in scan(dataset) if f.genre == "tones" and f.split == side]
        assert card["data"]["per_genre"]["tones"][side]["files"] == len(files)
        assert card["data"]["per_genre"]["tones"][side]["tracks"] == len({f.track for f in files})
    assert (trained / "metrics" / "confusion_matrix.png").exists()


def test_the_tracks_fitted_on_are_also_heard_in_the_electronic_clips_codec(trained, dataset):
    """Every GTZAN-style file of train and valid gets a copy encoded like the guide's clips; test files never do."""
    copies = sorted(p.relative_to(trained / "reencoded" / "ishkur_mp3").as_posix()
                    for p in (trained / "reencoded").rglob("*.mp3"))
    fitted = sorted(f"{f.genre}/{f.path.stem}.mp3" for f in scan(dataset) if f.split != "test")
    assert copies == fitted and 0 < len(fitted) < len(scan(dataset))
    from genrelens.analysis.audio import decode

    whole = next(name for name in fitted if "excerpt" not in name)  # a 6.5-s clip
    copy_path = trained / "reencoded" / "ishkur_mp3" / whole
    assert decode(str(copy_path), 22050, 60).analyzed_s == pytest.approx(6.5, abs=0.1)
    assert copy_path.stat().st_size < 6.5 * 48000 / 8 + 2000  # 48 kbit/s, like the guide's clips
    assert json.loads((trained / "models" / "model_card.json").read_text())["data"]["codec_copies"] is True


def test_tflite_and_keras_outputs_agree(trained, dataset):
    models = trained / "models"
    card = ModelCard.load(models)
    batch = np.random.default_rng(0).normal(0, 50, (7, 130, card.features["n_features"])).astype(np.float32)
    np.testing.assert_allclose(load_predictor(models, card, "tflite").predict(batch),
                               load_predictor(models, card, "keras").predict(batch), atol=1e-4)


def test_server_loads_and_serves_the_new_model(trained, tmp_path, audio_dir):
    client = make_app(tmp_path, MODEL_DIR=str(trained / "models")).test_client()
    body = upload(client, write_audio(audio_dir / "tiny.ogg", chord(7, seed=42))).get_json()
    assert sorted(g["genre"] for g in body["genres"]) == ALL_GENRES
    assert client.get("/api/model").get_json()["genres"] == ALL_GENRES


def test_second_run_reads_features_from_the_cache(trained, dataset, monkeypatch):
    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded although cached")

    monkeypatch.setattr(feature_cache, "decode", no_decoding)
    paths = [f.path for f in scan(dataset)]
    segments = feature_cache.load_segments(paths, FeatureSettings(), trained / "cache", workers=1)
    assert len(segments) == len(paths) and all(s.shape[1:] == (130, FeatureSettings().n_features) for s in segments)


@pytest.fixture(scope="module")
def with_head(trained, dataset, electronic_dir, outside_dir, tmp_path_factory):
    """The tiny MFCC CNN plus the committed musicnn and heads trained on the tiny data sets."""
    from training.musicnn_head import main

    models = tmp_path_factory.mktemp("withhead") / "models"
    shutil.copytree(trained / "models", models)
    shutil.copy(ROOT / "models" / "musicnn_msd.tflite", models)
    main(["--data-dir", str(dataset), "--electronic-dir", str(electronic_dir), "--model-dir", str(models),
          "--mfcc-valid-dir", str(trained / "models"), "--cache-dir", str(trained / "cache"),
          "--outside-dir", str(outside_dir),
          "--embedding-cache", str(models.parent / "embeddings"), "--reencoded-dir", str(trained / "reencoded"),
          "--metrics-dir", str(models.parent / "metrics"), "--pseudo-excerpts", "1"])
    return models


def test_musicnn_heads_are_trained_scored_and_served(with_head, tmp_path, audio_dir):
    card = json.loads((with_head / "musicnn_card.json").read_text())
    assert card["genres"] == ALL_GENRES and card["styles"][:2] == ["Trance", "House"]
    for name in ("mfcc_cnn", "musicnn", "ensemble"):
        assert card["metrics"][name]["valid"]["tracks"] == 5 and card["metrics"][name]["test"]["tracks"] == 5
        assert card["metrics"][name]["test_gtzan10"]["tracks"] == 3
    musicnn = card["metrics"]["musicnn"]
    # clicks, noise, chords, a kick pattern and a pad sound nothing alike: the pretrained ears tell them apart
    assert musicnn["test"]["track_accuracy"] >= 4 / 5
    assert musicnn["electronic"]["tracks_test"] == 2 and musicnn["electronic"]["non_electronic_tracks_test"] == 3
    assert musicnn["electronic"]["reencoded_gtzan_tracks"] == 3
    assert musicnn["styles"]["test"]["tracks"] == 2 and musicnn["styles"]["test"]["track_accuracy"] == 1.0
    assert musicnn["cross_source"]["unseen_style_House"]["tracks"] == 1  # its test clip, scored without House in the fit
    # the decision is chosen among every candidate, each scored on VALID, the cross-source checks and the outside
    # collection (3 clips per genre, never fitted on), by the rule the card states
    decisions = card["selection"]["decision"]
    assert set(decisions) == {"tags", "split", "split_pure"} and card["genre_decision"]["name"] in decisions
    for figures in decisions.values():
        assert {g: (v["tracks"], sum(v["calls"].values())) for g, v in figures["outside_dev"].items()} == {
            "beats": (3, 3), "tones": (3, 3)}
        parts = [figures["valid_track_accuracy"], figures["cross_source_mean"]] + [
            v["share"] for v in figures["outside_dev"].values()]
        assert figures["selection_score"] == pytest.approx(np.mean(parts), abs=1e-4)
    best = max(decisions, key=lambda name: decisions[name]["selection_score"])
    assert card["genre_decision"]["name"] == best
    assert card["genre_decision"]["tagged_genres"] == (["electronic"] if best.startswith("split") else ALL_GENRES)
    assert card["data"]["outside"] == {"beats": {"clips": 3, "artists": 3}, "tones": {"clips": 3, "artists": 3}}
    for name in ("mfcc_cnn", "musicnn", "ensemble"):  # the shipped models on the outside collection, with counts
        outside = card["metrics"][name]["outside_dev"]
        assert {g: v["tracks"] for g, v in outside.items()} == {"beats": 3, "tones": 3}
        assert all(v["right"] == round(v["share"] * 3) for v in outside.values())
    assert card["default_model"] in ("mfcc_cnn", "musicnn", "ensemble")
    for picture in ("style_confusion", "generalisation", "outside_confusion"):
        assert (with_head.parent / "metrics" / f"{picture}.png").stat().st_size > 0

    client = make_app(tmp_path, MODEL_DIR=str(with_head)).test_client()
    body = upload(client, write_audio(audio_dir / "tiny-house.mp3", four_on_the_floor(7, seed=9)),
                  query="?model=musicnn").get_json()
    assert body["model"]["name"] == "musicnn" and len(body["tags"]) == 50
    assert sorted(g["genre"] for g in body["genres"]) == ALL_GENRES and body["genre"] == "electronic"
    styles = body["electronic"]["styles"]
    assert [s["style"] for s in styles][0] == "House" and len(styles) == 7
    assert sum(s["probability"] for s in styles) == pytest.approx(1, abs=1e-3)
    nearest = body["electronic"]["nearest"]
    assert [n["genre"] for n in nearest] == ["techhouse", "ambienttechno"]  # one entry per guide genre, best first
    assert nearest[0]["name"] == "Tech House" and nearest[0]["style"] == "House" and nearest[0]["decade"] == "90s"
    assert nearest[0]["artist"].startswith("ARTIST TECHHOUSE") and isinstance(nearest[0]["year"], int)
    assert nearest[0]["similarity"] > nearest[1]["similarity"]

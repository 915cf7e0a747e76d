"""The JSON contract of every route, on real decoded audio through the committed model."""
from __future__ import annotations

import io
import json
import time

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, chord, clicks, make_app, noise, upload, write_audio

KINDS = ("waveform", "spectrogram", "mel_spectrogram", "mfcc")


def check_contract(body: dict, genres: list[str]) -> None:
    assert set(body) >= {"id", "filename", "duration_s", "analyzed_s", "genre", "confidence", "genres",
                         "segments", "tags", "electronic", "features", "images", "model", "timing_ms"}
    assert len(body["id"]) == 16
    listed = [g["genre"] for g in body["genres"]]
    assert sorted(listed) == sorted(genres), "every genre the model knows is listed once"
    probabilities = [g["probability"] for g in body["genres"]]
    assert probabilities == sorted(probabilities, reverse=True)
    assert sum(probabilities) == pytest.approx(1.0, abs=2e-3)
    assert all(0.0 <= p <= 1.0 for p in probabilities)
    assert body["genre"] == listed[0] and body["confidence"] == probabilities[0]
    for segment in body["segments"]:
        assert segment["genre"] in genres and segment["own_genre"] in genres
        assert 0 < segment["probability"] <= 1
        assert segment["end_s"] > segment["start_s"]
    starts = [s["start_s"] for s in body["segments"]]
    assert starts == sorted(starts)
    assert set(body["images"]) == set(KINDS)
    assert set(body["timing_ms"]) >= {"decode", "features", "inference", "total"}
    features = body["features"]
    assert set(features) == {"tempo_bpm", "spectral_centroid_hz", "rms", "zero_crossing_rate"}
    assert all(isinstance(v, float) and np.isfinite(v) for v in features.values())
    check_electronic(body["electronic"])


STYLES = {"Trance", "House", "Breakbeat", "Downtempo", "Techno", "Jungle", "Hardcore"}


def check_electronic(block: dict) -> None:
    """The 7 styles sorted and summing to 1; up to 5 nearest guide genres, distinct, most similar first."""
    styles = block["styles"]
    assert {s["style"] for s in styles} == STYLES and len(styles) == 7
    probabilities = [s["probability"] for s in styles]
    assert probabilities == sorted(probabilities, reverse=True)
    assert sum(probabilities) == pytest.approx(1.0, abs=2e-3)
    nearest = block["nearest"]
    assert len(nearest) == 5 and len({n["genre"] for n in nearest}) == 5
    similarities = [n["similarity"] for n in nearest]
    assert similarities == sorted(similarities, reverse=True) and all(-1 <= s <= 1 for s in similarities)
    for entry in nearest:
        assert set(entry) == {"genre", "name", "aka", "decade", "style", "artist", "title", "year", "similarity"}
        assert entry["style"] in STYLES and entry["name"] and entry["artist"]
        assert entry["year"] is None or 1950 <= entry["year"] <= 2026


@pytest.fixture(scope="module")
def genres(app):
    return app.extensions["genre"]["classifier"].genres


@pytest.mark.parametrize("suffix", [".mp3", ".wav", ".flac", ".ogg", ".m4a"])
def test_upload_returns_the_contract_for_each_format(client, genres, audio_dir, suffix):
    path = write_audio(audio_dir / f"tune{suffix}", chord(12, seed=3), channels=2, out_sr=44100)
    response = upload(client, path)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    check_contract(body, genres)
    assert body["filename"] == f"tune{suffix}"
    assert body["duration_s"] == pytest.approx(12, abs=0.1)
    assert body["analyzed_s"] == pytest.approx(12, abs=0.1)
    assert [s["start_s"] for s in body["segments"]] == [0.0, 3.0, 6.0, 9.0]


def test_features_describe_the_audio(client, audio_dir):
    """A steady 120-bpm click track and white noise differ the way their sound does."""
    beat = upload(client, write_audio(audio_dir / "beat.wav", clicks(15, bpm=120))).get_json()["features"]
    hiss = upload(client, write_audio(audio_dir / "hiss.wav", noise(15))).get_json()["features"]
    assert beat["tempo_bpm"] == pytest.approx(120, rel=0.05)
    assert hiss["zero_crossing_rate"] > 0.3 > beat["zero_crossing_rate"]
    assert hiss["spectral_centroid_hz"] > 3000
    assert hiss["rms"] == pytest.approx(0.3, rel=0.1)


def test_stored_analysis_is_returned_again(client, song_mp3):
    first = upload(client, song_mp3).get_json()
    again = client.get(f"/analyses/{first['id']}")
    assert again.status_code == 200
    assert again.get_json() == first


def test_pictures_are_drawn_once_then_served_from_the_store(client, app, song_mp3):
    body = upload(client, song_mp3).get_json()
    store = app.extensions["genre"]["store"]
    for kind in KINDS:
        url = body["images"][kind]
        assert url == f"/analyses/{body['id']}/{kind}.png"
        first = client.get(url)
        assert first.status_code == 200 and first.mimetype == "image/png"
        image = Image.open(io.BytesIO(first.data))
        assert image.format == "PNG" and image.width >= 600 and image.height >= 200
        assert store.picture(body["id"], kind) == first.data
        assert client.get(url).data == first.data


def test_when_the_audio_has_expired_the_analysis_stands_and_its_pictures_are_410(tmp_path, song_mp3):
    application = make_app(tmp_path, ANALYSIS_TTL_S=60)
    now = [time.time()]
    application.extensions["genre"]["store"].clock = lambda: now[0]  # a clock the test moves
    client = application.test_client()
    body = upload(client, song_mp3).get_json()
    assert client.get(body["images"]["mfcc"]).status_code == 200
    now[0] += 61
    assert client.get(f"/analyses/{body['id']}").get_json()["genre"] == body["genre"]
    for url in (body["images"]["mfcc"], f"/analyses/{body['id']}/peaks.json"):
        gone = client.get(url)
        assert gone.status_code == 410 and gone.get_json()["error"]["code"] == "expired"
    again = upload(client, song_mp3).get_json()  # the same audio again: answered from the store, pictures back
    assert again["id"] != body["id"] and again["cached"] is True and again["genres"] == body["genres"]
    assert client.get(again["images"]["mfcc"]).status_code == 200
    assert client.get(body["images"]["mfcc"]).status_code == 200  # the first analysis shares that audio


def test_model_card_route_lists_every_selectable_model(client, genres, app):
    card = client.get("/api/model").get_json()
    classifier = app.extensions["genre"]["classifier"]
    assert card["genres"] == genres and card["name"] == classifier.default_model
    assert [m["name"] for m in card["models"]] == ["student", "musicnn", "mfcc_cnn", "ensemble"]
    assert [m["name"] for m in card["models"] if m["default"]] == [card["name"]]
    committed = json.loads((ROOT / "models" / "musicnn_card.json").read_text())["metrics"]
    student = json.loads((ROOT / "models" / "student_card.json").read_text())["metrics"]
    committed["student"] = student["student"] | {"closeness_to_musicnn": student["closeness_to_musicnn"]}
    for model in card["models"]:  # the route serves the committed figures, every split of every model
        for split in ("valid", "test"):
            assert model["metrics"][split] == committed[model["name"]][split]
    assert card["cards"]["genre_student"]["serves_default"] == (card["name"] == "student")
    for key, value in committed[card["name"]].items():  # the default's figures at the top, as the page reads them
        assert card["metrics"][key] == value
    assert card["cards"]["genre_cnn"]["features"]["sample_rate"] == 22050
    assert len(card["musicnn"]["tags"]) == 50


@pytest.mark.parametrize("model", ["student", "mfcc_cnn", "musicnn", "ensemble"])
def test_upload_with_a_chosen_model(client, app, genres, song_mp3, model):
    response = upload(client, song_mp3, query=f"?model={model}")
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    check_contract(body, genres)
    assert body["model"]["name"] == model
    assert len(body["tags"]) == 50
    assert body["model"]["tags_from"] == ("musicnn" if model in ("musicnn", "ensemble") else "student")


def test_upload_uses_the_default_model_and_returns_style_tags(client, app, song_mp3):
    body = upload(client, song_mp3).get_json()
    assert body["model"]["name"] == app.extensions["genre"]["classifier"].default_model
    tags = [t["tag"] for t in body["tags"]]
    assert len(set(tags)) == 50 and {"rock", "jazz", "electronic", "Hip-Hop"} <= set(tags)


def test_unknown_model_is_400(client, song_mp3):
    response = upload(client, song_mp3, query="?model=resnet")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "unknown_model"


def test_genre_guide_route_serves_genres_json(client, genres):
    response = client.get("/api/genres")
    assert response.status_code == 200
    guide = response.get_json()
    assert guide == json.loads((ROOT / "genres.json").read_text())
    assert set(genres) <= set(guide)


def test_health(client):
    response = client.get("/healthz")
    body = response.get_json()
    assert response.status_code == 200 and body["status"] == "ok" and "problems" not in body
    default = json.loads((ROOT / "models" / "musicnn_card.json").read_text())["default_model"]
    if json.loads((ROOT / "models" / "student_card.json").read_text())["serves_default"]:
        default = "student"
    assert body["model"] == default and body["models"] == ["student", "musicnn", "mfcc_cnn", "ensemble"]
    assert body["version"] == json.loads((ROOT / "models" / "model_card.json").read_text())["version"]
    assert body["jobs"]["queue"] == "embedded" and body["jobs"]["queued"] >= 0 and body["jobs"]["running"] >= 0


def test_the_model_can_be_chosen_by_a_form_field_too(client, song_mp3):
    with open(song_mp3, "rb") as handle:
        response = client.post("/file-upload", data={"file": (handle, "song.mp3"), "model": "mfcc_cnn"},
                               content_type="multipart/form-data")
    assert response.status_code == 200 and response.get_json()["model"]["name"] == "mfcc_cnn"


def test_every_response_carries_the_security_headers(client, song_mp3):
    body = upload(client, song_mp3).get_json()
    for response in (client.get("/"), client.get("/healthz"), client.get("/analyses/0000000000000000"),
                     client.get(body["images"]["waveform"])):
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    picture = client.get(body["images"]["waveform"])
    assert picture.headers["Cache-Control"] == "private, max-age=3600" and picture.mimetype == "image/png"


def test_a_missing_genre_guide_is_a_json_404(tmp_path, monkeypatch):
    from conftest import make_app

    from genrelens.web import factory

    monkeypatch.setattr(factory, "GENRES_FILE", tmp_path / "genres.json")  # no genres.json there
    error_of(make_app(tmp_path).test_client().get("/api/genres"), 404, "not_found")


def test_our_own_bug_is_a_json_500_without_a_trace(tmp_path):
    from conftest import make_app

    application = make_app(tmp_path)
    application.add_url_rule("/boom", "boom", lambda: 1 // 0)
    response = application.test_client().get("/boom")
    error_of(response, 500, "internal_error")
    assert "ZeroDivisionError" not in response.get_data(as_text=True)


def test_settings_are_read_from_the_environment(monkeypatch, tmp_path):
    from app import create_app
    from genrelens.settings import settings_from_env

    monkeypatch.setenv("MAX_UPLOAD_MB", "2")
    monkeypatch.setenv("MAX_ANALYSIS_SECONDS", "30")
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("MUSICNN_THREADS", "1")
    monkeypatch.setenv("DEFAULT_MODEL", "ensemble")
    monkeypatch.setenv("BROKER_URL", "redis://queue.example:6379/0")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'elsewhere.sqlite3'}")
    settings = settings_from_env()
    assert settings["MAX_UPLOAD_MB"] == 2 and settings["MAX_ANALYSIS_SECONDS"] == 30
    assert settings["CORS_ORIGINS"] == ["https://a.example", "https://b.example"]
    application = create_app({"ANALYSIS_DIR": str(tmp_path / "store"), "UPLOAD_DIR": str(tmp_path / "up")})
    classifier = application.extensions["genre"]["classifier"]
    assert application.config["MAX_CONTENT_LENGTH"] == 2 * 1024 * 1024
    assert classifier.max_seconds == 30 and classifier.default_model == "ensemble"
    assert classifier.musicnn.network.network.threads == 1
    assert application.extensions["genre"]["queue"].name == "celery"  # a client only: nothing is sent yet
    assert application.extensions["genre"]["database"].url == f"sqlite:///{tmp_path / 'elsewhere.sqlite3'}"


def test_index_page_is_served(client):
    response = client.get("/")
    assert response.status_code == 200 and b"<html" in response.data.lower()


def error_of(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert error["message"]
    if code:
        assert error["code"] == code
    return error


def test_missing_file_field_is_400(client):
    error_of(client.post("/file-upload", data={"other": "x"}), 400, "no_file")
    error_of(client.post("/file-upload"), 400, "no_file")


def test_empty_file_is_400(client, audio_dir):
    empty = audio_dir / "empty.mp3"
    empty.write_bytes(b"")
    error_of(upload(client, empty), 400, "empty_file")


@pytest.mark.parametrize("content", [b"just some text\n" * 50, b"<html><body>hi</body></html>",
                                     b"\x89PNG\r\n\x1a\n" + bytes(500), bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8))])
def test_not_audio_is_415(client, audio_dir, content):
    fake = audio_dir / "fake.mp3"
    fake.write_bytes(content)
    error = error_of(upload(client, fake), 415, "unsupported_media")
    assert str(audio_dir) not in error["message"] and "upload-" not in error["message"]


def test_too_short_is_422(client, audio_dir):
    error_of(upload(client, write_audio(audio_dir / "blip.wav", chord(1.0))), 422, "too_short")


def test_silence_is_422(client, audio_dir):
    silent = write_audio(audio_dir / "silence.flac", np.zeros(SR_SECONDS(60), np.float32))
    error_of(upload(client, silent), 422, "silent")


def SR_SECONDS(seconds: float) -> int:  # noqa: N802 - reads like a unit
    return int(seconds * 22050)


def test_silent_stretches_are_left_out_of_the_timeline(client, audio_dir):
    signal = np.concatenate([chord(9), np.zeros(SR_SECONDS(9), np.float32), chord(6, seed=5)])
    body = upload(client, write_audio(audio_dir / "gap.wav", signal)).get_json()
    assert [s["start_s"] for s in body["segments"]] == [0.0, 3.0, 6.0, 18.0, 21.0]


def test_unknown_and_malformed_ids_are_404(client):
    error_of(client.get("/analyses/0123456789abcdef"), 404, "not_found")
    error_of(client.get("/analyses/..%2f..%2fetc"), 404)
    error_of(client.get("/analyses/0123456789abcdef/waveform.png"), 404, "not_found")
    error_of(client.get("/no-such-route"), 404)


def test_unknown_picture_kind_is_404(client, song_mp3):
    body = upload(client, song_mp3).get_json()
    error_of(client.get(f"/analyses/{body['id']}/chroma.png"), 404, "not_found")


def test_wrong_method_is_json(client):
    error_of(client.get("/file-upload"), 405)


def test_upload_over_the_limit_is_413(tmp_path, audio_dir):
    from conftest import make_app

    small = make_app(tmp_path, MAX_UPLOAD_MB=0.05).test_client()
    big = write_audio(audio_dir / "big.wav", chord(10))  # ~440 kB > 50 kB
    error_of(upload(small, big), 413, "too_large")
    assert list((tmp_path / "uploads").iterdir()) == []


def test_filename_is_shown_as_sent_without_control_characters(client, song_mp3):
    """A name is only ever shown, never a path: kept whole (a cut at the last / turned a name with a
    closing tag into its tail), less its control characters."""
    body = upload(client, song_mp3, name="../../etc/pa\x00ss\u00e9 wd.mp3").get_json()
    assert body["filename"] == "../../etc/pass\u00e9 wd.mp3"


@pytest.mark.parametrize("route", ["/file-upload", "/jobs"])
def test_a_file_name_that_is_not_utf8_still_arrives(client, song_mp3, route):
    """A Latin-1 name (curl -F on an old file system): werkzeug dropped the whole form (400 no_file)."""
    body = (b'--b\r\nContent-Disposition: form-data; name="file"; filename="caf\xe9 \xff.mp3"\r\n'
            b"Content-Type: audio/mpeg\r\n\r\n" + song_mp3.read_bytes() + b"\r\n--b--\r\n")
    response = client.post(route, data=body, content_type="multipart/form-data; boundary=b")
    assert response.status_code in (200, 202), response.get_data(as_text=True)
    answer = response.get_json()
    shown = answer["filename"] if route == "/file-upload" else answer["files"][0]["filename"]
    assert shown == "caf\ufffd \ufffd.mp3"  # each byte that is not UTF-8 shown as U+FFFD


def test_job_workers_default_to_the_cpus_this_process_may_use():
    """Not the host's cores: a container's CPU quota (cgroup) or, here, the CPU affinity it runs with."""
    import os
    import subprocess
    import sys

    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs two CPUs to run on one of them")
    code = "from genrelens.settings import settings_from_env; print(settings_from_env({})['JOB_WORKERS'])"
    one_cpu = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                             preexec_fn=lambda: os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}))
    assert one_cpu.stdout.strip() == "1"


def test_an_upload_dir_that_does_not_exist_yet_is_made(tmp_path, song_mp3):
    from conftest import make_app

    uploads = tmp_path / "not" / "there" / "yet"
    client = make_app(tmp_path, UPLOAD_DIR=str(uploads)).test_client()
    response = upload(client, song_mp3)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert uploads.is_dir() and list(uploads.iterdir()) == []


def test_uploads_left_by_a_killed_worker_are_swept(tmp_path, song_mp3, monkeypatch):
    """A worker killed mid-request never deletes its temp file: a later upload removes stale ones only."""
    import os
    import time

    from app import create_app
    from genrelens.web.blueprints import upload as web

    monkeypatch.setattr(web, "_last_sweep", [float("-inf")], raising=False)
    client = create_app({"ANALYSIS_DIR": str(tmp_path / "store"), "UPLOAD_DIR": str(tmp_path / "up")}).test_client()
    stale, in_flight, other = (tmp_path / "up" / name for name in ("upload-killed", "upload-in-flight", "notes.txt"))
    for path in (stale, in_flight, other):
        path.write_bytes(b"x")
    hour_ago = time.time() - 3600
    for path in (stale, other):
        os.utime(path, (hour_ago, hour_ago))
    assert upload(client, song_mp3).status_code == 200
    assert sorted(p.name for p in (tmp_path / "up").iterdir()) == ["notes.txt", "upload-in-flight"]

"""Hostile and broken input: the right JSON error (or a right result), never a 500, no temp file left."""
from __future__ import annotations

import io
import subprocess
import zipfile

import numpy as np
import pytest

from genrelens.analysis.audio import ffmpeg_binary
from conftest import chord, make_app, upload, write_audio


def error_code(response, status: int) -> str:
    assert response.status_code == status, response.get_data(as_text=True)
    return response.get_json()["error"]["code"]


def test_zip_named_mp3_is_415(client, audio_dir):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("song.mp3", bytes(5000))
    path = audio_dir / "archive.mp3"
    path.write_bytes(buffer.getvalue())
    assert error_code(upload(client, path), 415) == "unsupported_media"


def test_truncated_mp3_is_analysed_as_far_as_it_goes(client, audio_dir):
    whole = write_audio(audio_dir / "whole.mp3", chord(12, seed=4), bitrate="128k").read_bytes()
    cut = audio_dir / "cut.mp3"
    cut.write_bytes(whole[: len(whole) * 2 // 3])
    body = upload(client, cut).get_json()
    assert body["analyzed_s"] == pytest.approx(8, abs=0.3)
    assert len(body["segments"]) == int(body["analyzed_s"] // 3)
    stub = audio_dir / "stub.mp3"
    stub.write_bytes(whole[:8000])  # half a second
    assert error_code(upload(client, stub), 422) == "too_short"


def test_wav_header_claiming_more_data_than_it_has(client, audio_dir):
    data = bytearray(write_audio(audio_dir / "honest.wav", chord(7, seed=6)).read_bytes())
    data[4:8] = (2**31).to_bytes(4, "little")  # RIFF size
    data[40:44] = (2**31).to_bytes(4, "little")  # data chunk size: ~13 hours claimed
    liar = audio_dir / "liar.wav"
    liar.write_bytes(bytes(data))
    body = upload(client, liar).get_json()
    assert body["analyzed_s"] == pytest.approx(7, abs=0.05)
    assert body["duration_s"] == pytest.approx(7, abs=0.05) and body["capped"] is False


def test_five_minutes_of_digital_silence_is_422(client, audio_dir):
    silent = write_audio(audio_dir / "five-silent.mp3", np.zeros(300 * 22050, np.float32), bitrate="32k")
    assert error_code(upload(client, silent), 422) == "silent"


@pytest.fixture(scope="module")
def three_hours(audio_dir):
    """Three hours of MP3 (a minute's frames repeated: 4 MB at 16 kbit/s, no header stating its length)."""
    minute = audio_dir / "minute.mp3"
    subprocess.run([ffmpeg_binary(), "-y", "-loglevel", "error", "-i",
                    str(write_audio(audio_dir / "minute.wav", chord(60, seed=8))),
                    "-c:a", "libmp3lame", "-b:a", "16k", "-ar", "22050", "-write_xing", "0", "-id3v2_version", "0",
                    str(minute)], check=True, timeout=60)
    long = audio_dir / "three-hours.mp3"
    long.write_bytes(minute.read_bytes() * 180)
    return long


def test_three_hour_file_is_analysed_up_to_the_cap_and_says_so(client, three_hours):
    body = upload(client, three_hours).get_json()
    assert body["analyzed_s"] == pytest.approx(600, abs=0.1)
    assert body["duration_s"] > 3 * 3600 - 120 and body["capped"] is True
    assert len(body["segments"]) == 200


def test_a_playlist_naming_files_on_the_server_is_refused(client, audio_dir, song_mp3):
    """An HLS playlist or a concat list is not audio but a pointer to other data: the ffmpeg 5.1
    command line decoded the server's own files that an uploaded playlist named (local file read)."""
    from genrelens.analysis.audio import DecodeError, decode

    playlist = f"#EXTM3U\n#EXT-X-TARGETDURATION:20\n#EXTINF:20.0,\n{song_mp3}\n#EXT-X-ENDLIST\n"
    concat = f"ffconcat version 1.0\nfile {song_mp3}\n"
    for name, text in (("playlist.m3u8", playlist), ("list.ffconcat", concat)):
        path = audio_dir / name
        path.write_text(text)
        with pytest.raises(DecodeError, match="refused"):
            decode(str(path), 22050, 600)
        assert error_code(upload(client, path, name="song.mp3"), 415) == "unsupported_media"


@pytest.mark.parametrize("name, shown", [
    ("../../../etc/passwd.mp3", "../../../etc/passwd.mp3"),  # only ever shown, never a path
    ("<script>alert(1)</script>.mp3", "<script>alert(1)</script>.mp3"),  # JSON text, shown as text
    ("nul\x00byte.mp3", "nulbyte.mp3"),
    ("Beyonc\u00e9 \u2013 \u6b4c.mp3", "Beyonc\u00e9 \u2013 \u6b4c.mp3"),
    ("a" * 1000 + ".mp3", "a" * 200),
])
def test_odd_filenames_are_shown_safely(client, song_mp3, name, shown):
    response = upload(client, song_mp3, name=name)
    assert response.status_code == 200
    assert response.get_json()["filename"] == shown


def test_cors_only_for_listed_origins(tmp_path):
    client = make_app(tmp_path, CORS_ORIGINS=["https://music.example"]).test_client()
    allowed = client.get("/api/model", headers={"Origin": "https://music.example"})
    assert allowed.headers.get("Access-Control-Allow-Origin") == "https://music.example"
    other = client.get("/api/model", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    for response in (allowed, other, client.get("/api/model")):  # a cache must not give one origin's answer to another
        assert "Origin" in response.headers.get("Vary", "")


def test_decoding_runs_under_a_time_limit(audio_dir):
    from genrelens.analysis.audio import DecodeError, decode

    path = write_audio(audio_dir / "slow.flac", chord(60, seed=9))
    with pytest.raises(DecodeError, match="longer than"):
        decode(str(path), 22050, max_seconds=600, timeout_s=0.001)
    assert decode(str(path), 22050, max_seconds=600, timeout_s=30).analyzed_s == pytest.approx(60, abs=0.05)


def test_a_damaged_file_is_decoded_as_far_as_it_goes_without_a_word_on_stderr(audio_dir, capfd):
    """FFmpeg runs inside the worker now: its complaints about a damaged file (thousands of lines for
    this one from the command line) must not flood the server's log."""
    from genrelens.analysis.audio import decode

    data = bytearray(write_audio(audio_dir / "to-damage.mp3", chord(20, seed=12), bitrate="128k").read_bytes())
    rng = np.random.default_rng(3)
    for position in rng.integers(1000, len(data), 2000):
        data[position] = int(rng.integers(0, 256))
    damaged = audio_dir / "damaged.mp3"
    damaged.write_bytes(bytes(data))
    capfd.readouterr()
    decoded = decode(str(damaged), 22050, max_seconds=600)
    assert 15 < decoded.analyzed_s <= 20.1 and np.isfinite(decoded.samples).all()
    assert capfd.readouterr().err == ""


def test_a_missing_decoder_is_a_503_and_health_says_so(tmp_path, song_mp3, monkeypatch):
    """PyAV not importable (not installed, or its FFmpeg libraries do not load): not the upload's fault,
    a clear 503, not a 415 or a 500; /healthz names the broken part."""
    import sys

    from conftest import make_app
    from genrelens.analysis import audio

    client = make_app(tmp_path).test_client()
    monkeypatch.setitem(sys.modules, "av", None)  # what `import av` meets when the package is gone
    monkeypatch.setattr(audio, "_decoder_check", {"at": float("-inf"), "problem": None})
    response = upload(client, song_mp3)
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.get_json()["error"]["code"] == "decoder_unavailable"
    health = client.get("/healthz")
    assert health.status_code == 503 and health.get_json()["status"] == "degraded"
    assert "PyAV (the av package) cannot be imported" in health.get_json()["problems"]["decoder"]
    assert list((tmp_path / "uploads").iterdir()) == []
    monkeypatch.undo()  # the decoder back: healthy again once the next check runs
    audio._decoder_check["at"] = float("-inf")
    assert client.get("/healthz").status_code == 200 and upload(client, song_mp3).status_code == 200


def test_decoding_keeps_no_more_than_the_capped_pcm(three_hours):
    """A file that decodes to hours is cut at the cap in whole samples, and the decoder never holds
    more than that: the Python-side peak stays within the capped PCM (60 s here) plus a little."""
    import tracemalloc

    from genrelens.analysis.audio import decode

    tracemalloc.start()
    try:
        decoded = decode(str(three_hours), 22050, max_seconds=60)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    capped_bytes = 60 * 22050 * 4
    assert len(decoded.samples) == 60 * 22050 and decoded.capped
    assert peak < 1.25 * capped_bytes + (2 << 20), f"peak {peak / 1e6:.1f} MB for {capped_bytes / 1e6:.1f} MB of PCM"

"""Hostile and broken input: the right JSON error (or a right result), never a 500, no temp file left."""
from __future__ import annotations

import io
import subprocess
import zipfile

import numpy as np
import pytest

from genrelens.audio import ffmpeg_binary
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


def test_three_hour_file_is_analysed_up_to_the_cap_and_says_so(client, audio_dir):
    """Three hours of MP3 (a minute's frames repeated: 4 MB at 16 kbit/s), decoded only to the cap."""
    minute = audio_dir / "minute.mp3"
    subprocess.run([ffmpeg_binary(), "-y", "-loglevel", "error", "-i",
                    str(write_audio(audio_dir / "minute.wav", chord(60, seed=8))),
                    "-c:a", "libmp3lame", "-b:a", "16k", "-ar", "22050", "-write_xing", "0", "-id3v2_version", "0",
                    str(minute)], check=True, timeout=60)
    long = audio_dir / "three-hours.mp3"
    long.write_bytes(minute.read_bytes() * 180)
    body = upload(client, long).get_json()
    assert body["analyzed_s"] == pytest.approx(600, abs=0.1)
    assert body["duration_s"] > 3 * 3600 - 120 and body["capped"] is True
    assert len(body["segments"]) == 200


@pytest.mark.parametrize("name, shown", [
    ("../../../etc/passwd.mp3", "passwd.mp3"),
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


def test_ffmpeg_runs_under_a_time_limit(audio_dir):
    from genrelens.audio import DecodeError, decode

    path = write_audio(audio_dir / "slow.flac", chord(60, seed=9))
    with pytest.raises(DecodeError, match="longer than"):
        decode(str(path), 22050, max_seconds=600, timeout_s=0.001)
    assert decode(str(path), 22050, max_seconds=600, timeout_s=30).analyzed_s == pytest.approx(60, abs=0.05)


def test_a_chatty_decoder_keeps_only_the_head_and_tail_of_its_log_in_memory(monkeypatch):
    """A damaged file can make ffmpeg log megabytes a second: none of it goes to disk, 64 KB of it is kept."""
    import sys
    import tempfile

    from genrelens import audio

    def no_disk(*args, **kwargs):
        raise AssertionError("the decoder's log went to a file")

    monkeypatch.setattr(tempfile, "TemporaryFile", no_disk)
    chatty = ("import sys; sys.stderr.buffer.write(b'A' * 40000 + b'B' * 3000000 + b'C' * 40000);"
              " sys.stdout.buffer.write(bytes(16))")
    pcm, returncode, log = audio._run_bounded([sys.executable, "-c", chatty], max_bytes=1024, timeout_s=30)
    assert returncode == 0 and bytes(pcm) == bytes(16)
    assert log == b"A" * 32768 + b"\n" + b"C" * 32768


@pytest.mark.parametrize("binary", ["/nonexistent/ffmpeg", "/bin/false"])
def test_a_missing_or_broken_decoder_is_a_503_and_health_says_so(tmp_path, song_mp3, monkeypatch, binary):
    """Not the upload's fault: a clear 503, not a 415 or a 500; /healthz names the broken part."""
    from conftest import make_app
    from genrelens import audio

    monkeypatch.setenv("FFMPEG_BINARY", binary)
    monkeypatch.setattr(audio, "_decoder_check", {"at": float("-inf"), "problem": None}, raising=False)
    audio.ffmpeg_binary.cache_clear()
    try:
        client = make_app(tmp_path).test_client()
        response = upload(client, song_mp3)
        assert response.status_code == 503, response.get_data(as_text=True)
        assert response.get_json()["error"]["code"] == "decoder_unavailable"
        health = client.get("/healthz")
        assert health.status_code == 503 and health.get_json()["status"] == "degraded"
        assert binary in health.get_json()["problems"]["decoder"]
        assert list((tmp_path / "uploads").iterdir()) == []
    finally:
        audio.ffmpeg_binary.cache_clear()


def test_the_decoder_output_is_cut_at_its_cap_in_whole_samples():
    """A decode that pours out more than it may (a lying file) is cut at the cap, never read whole."""
    import sys

    from genrelens import audio

    flood = "import sys; sys.stdout.buffer.write(bytes(50_000_000))"
    pcm, _, _ = audio._run_bounded([sys.executable, "-c", flood], max_bytes=4_002, timeout_s=30)
    assert len(pcm) == 4_000  # whole float32 samples, at most the cap

"""A 7-minute song is analysed across its whole length, and a cap bounds what is decoded."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import chord, clicks, make_app, upload, write_audio


@pytest.fixture(scope="module")
def seven_minutes(audio_dir):
    # Seven different one-minute parts, so a timeline that stopped early would show it.
    parts = [chord(60, root_hz=110 * (1 + i / 7), seed=i) + clicks(60, bpm=80 + 10 * i, seed=i) for i in range(7)]
    return write_audio(audio_dir / "seven.mp3", np.concatenate(parts) * 0.7, bitrate="96k")


def test_whole_song_is_segmented(client, seven_minutes):
    body = upload(client, seven_minutes).get_json()
    assert body["duration_s"] == pytest.approx(420, abs=0.5)
    assert body["analyzed_s"] == pytest.approx(420, abs=0.5)
    starts = [s["start_s"] for s in body["segments"]]
    assert starts == [3.0 * i for i in range(140)]


def test_cap_limits_what_is_analysed_and_says_so(tmp_path, seven_minutes):
    capped = make_app(tmp_path, MAX_ANALYSIS_SECONDS=120).test_client()
    body = upload(capped, seven_minutes).get_json()
    assert body["duration_s"] == pytest.approx(420, abs=0.5)
    assert body["analyzed_s"] == pytest.approx(120, abs=0.05)
    assert [s["start_s"] for s in body["segments"]] == [3.0 * i for i in range(40)]
    assert list((tmp_path / "uploads").iterdir()) == []


def streamed_webm(path, seconds: float):
    """A WebM/Opus recording written to a pipe, as a browser's recorder makes it: no length in its header."""
    import subprocess

    from conftest import ffmpeg_binary

    with open(path, "wb") as out:
        subprocess.run([ffmpeg_binary(), "-nostdin", "-hide_banner", "-loglevel", "error", "-f", "lavfi",
                        "-i", f"sine=frequency=330:duration={seconds}", "-c:a", "libopus", "-f", "webm", "pipe:1"],
                       stdout=out, check=True, timeout=60)
    return path


def test_a_recording_that_states_no_length_is_capped_when_it_reaches_the_cap(tmp_path, audio_dir):
    from genrelens.analysis.audio import decode

    recording = streamed_webm(audio_dir / "recording.webm", 8.0)
    assert decode(str(recording), 22050, 3.0).capped
    assert not decode(str(recording), 22050, 20.0).capped  # it ended before the cap
    body = upload(make_app(tmp_path, MAX_ANALYSIS_SECONDS=3).test_client(), recording).get_json()
    assert body["capped"] is True and body["analyzed_s"] == pytest.approx(3.0, abs=0.05)

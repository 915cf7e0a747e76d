"""Well-formed but unusual audio gets a correct result: encodings, rates, channels, containers, tags."""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from genrelens.analysis.audio import ffmpeg_binary
from conftest import chord, upload, write_audio

SECONDS = 9.0


@pytest.fixture(scope="module")
def source_wav(audio_dir) -> Path:
    return write_audio(audio_dir / "odd-source.wav", chord(SECONDS, seed=11))


def convert(source: Path, out: Path, *args: str) -> Path:
    subprocess.run([ffmpeg_binary(), "-y", "-loglevel", "error", "-i", str(source), *args, str(out)],
                   check=True, timeout=60)
    return out


CASES = {
    "wav-u8.wav": ["-c:a", "pcm_u8"],
    "wav-s16.wav": ["-c:a", "pcm_s16le"],
    "wav-s24.wav": ["-c:a", "pcm_s24le"],
    "wav-s32.wav": ["-c:a", "pcm_s32le"],
    "wav-f32.wav": ["-c:a", "pcm_f32le"],
    "wav-8khz.wav": ["-ar", "8000"],
    "wav-192khz.wav": ["-ar", "192000"],
    "wav-stereo.wav": ["-af", "pan=stereo|FL=c0|FR=c0"],
    "wav-6ch.wav": ["-af", "pan=5.1|FL=c0|FR=c0|FC=c0|LFE=c0|BL=c0|BR=c0"],
    "flac.flac": ["-c:a", "flac"],
    "vorbis.ogg": ["-c:a", "libvorbis"],
    "opus.opus": ["-c:a", "libopus", "-b:a", "64k"],
    "aac.m4a": ["-c:a", "aac", "-b:a", "128k"],
    "recorder.webm": ["-c:a", "libopus", "-f", "webm"],
    "vbr.mp3": ["-c:a", "libmp3lame", "-q:a", "4"],
    "cbr-44k-stereo.mp3": ["-ar", "44100", "-af", "pan=stereo|FL=c0|FR=c0", "-b:a", "320k"],
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_odd_encodings_are_analysed(client, audio_dir, source_wav, name):
    path = convert(source_wav, audio_dir / name, *CASES[name])
    response = upload(client, path)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["analyzed_s"] == pytest.approx(SECONDS, abs=0.08)
    assert [s["start_s"] for s in body["segments"]] == [0.0, 3.0, 6.0]
    # the level survives channel mixing and resampling: same loudness as the mono source
    assert body["features"]["rms"] == pytest.approx(float(np.sqrt(np.mean(chord(SECONDS, seed=11) ** 2))), rel=0.1)


def test_mp3_with_id3_tags_and_cover_art(client, audio_dir, source_wav):
    cover = audio_dir / "cover.png"
    subprocess.run([ffmpeg_binary(), "-y", "-loglevel", "error", "-f", "lavfi", "-i", "color=c=red:s=300x300",
                    "-frames:v", "1", str(cover)], check=True, timeout=60)
    tagged = audio_dir / "tagged.mp3"
    subprocess.run([ffmpeg_binary(), "-y", "-loglevel", "error", "-i", str(source_wav), "-i", str(cover),
                    "-map", "0:a", "-map", "1:v", "-c:a", "libmp3lame", "-c:v", "png", "-id3v2_version", "3",
                    "-metadata", "title=Test Song", "-metadata", "artist=Nobody",
                    "-metadata:s:v", "title=Album cover", "-metadata:s:v", "comment=Cover (front)",
                    str(tagged)], check=True, timeout=60)
    assert tagged.read_bytes()[:3] == b"ID3"
    body = upload(client, tagged).get_json()
    assert body["analyzed_s"] == pytest.approx(SECONDS, abs=0.08) and len(body["segments"]) == 3


def test_misleading_extension_with_real_audio(client, audio_dir, source_wav):
    flac_named_mp3 = convert(source_wav, audio_dir / "really-flac.mp3", "-f", "flac")
    ogg_named_wav = convert(source_wav, audio_dir / "really-ogg.wav", "-c:a", "libvorbis", "-f", "ogg")
    for path in (flac_named_mp3, ogg_named_wav):
        response = upload(client, path)
        assert response.status_code == 200, response.get_data(as_text=True)
        assert len(response.get_json()["segments"]) == 3

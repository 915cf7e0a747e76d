"""Shared fixtures: audio made here (numpy signals encoded by real ffmpeg through pydub) and apps."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from pydub import AudioSegment

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from genrelens.analysis.audio import ffmpeg_binary  # noqa: E402

SR = 22050


def chord(seconds: float, sr: int = SR, root_hz: float = 220.0, seed: int = 0) -> np.ndarray:
    """A major chord with a little noise and a pulse every half second: music-like, not silence."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    tone = sum(np.sin(2 * np.pi * root_hz * ratio * t) for ratio in (1.0, 1.26, 1.5)) / 3
    pulse = (np.mod(t, 0.5) < 0.05) * rng.standard_normal(len(t))
    return (0.4 * tone + 0.15 * pulse + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


def noise(seconds: float, sr: int = SR, seed: int = 1) -> np.ndarray:
    return (0.3 * np.random.default_rng(seed).standard_normal(int(seconds * sr))).clip(-1, 1).astype(np.float32)


def clicks(seconds: float, sr: int = SR, bpm: float = 120, seed: int = 2) -> np.ndarray:
    """A drum-like pattern: decaying noise bursts on the beat."""
    rng = np.random.default_rng(seed)
    out = np.zeros(int(seconds * sr), np.float32)
    burst = (rng.standard_normal(int(0.08 * sr)) * np.exp(-np.linspace(0, 8, int(0.08 * sr)))).astype(np.float32)
    for start in range(0, len(out) - len(burst), int(sr * 60 / bpm)):
        out[start : start + len(burst)] += 0.6 * burst
    return out.clip(-1, 1)


def pad(seconds: float, sr: int = SR, seed: int = 0) -> np.ndarray:
    """A slow swelling saw-tooth pad: a 'downtempo' stand-in."""
    t = np.arange(int(seconds * sr)) / sr
    hz = 110 * 2 ** (np.random.default_rng(seed).integers(0, 7) / 12)
    saw = sum(np.sin(2 * np.pi * hz * k * t) / k for k in range(1, 8))
    return (0.25 * saw * (0.6 + 0.4 * np.sin(2 * np.pi * 0.25 * t))).astype(np.float32)


def four_on_the_floor(seconds: float, sr: int = SR, seed: int = 0) -> np.ndarray:
    """A kick on every beat at 125 BPM with an off-beat hat: a 'house' stand-in."""
    rng = np.random.default_rng(seed)
    out = np.zeros(int(seconds * sr), np.float32)
    n = int(0.15 * sr)
    kick = np.sin(2 * np.pi * np.cumsum(np.linspace(150, 45, n)) / sr) * np.exp(-np.linspace(0, 6, n))
    hat = rng.standard_normal(int(0.03 * sr)) * np.exp(-np.linspace(0, 9, int(0.03 * sr)))
    beat = int(sr * 60 / 125)
    for start in range(0, len(out) - n, beat):
        out[start : start + n] += 0.7 * kick
        hat_at = start + beat // 2
        out[hat_at : hat_at + len(hat)] += 0.2 * hat[: len(out) - hat_at]
    return out.clip(-1, 1)


def piano(seconds: float, sr: int = SR, seed: int = 0) -> np.ndarray:
    """A melody of decaying piano-like notes (harmonics fading faster the higher they are): acoustic, not electronic."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    out = np.zeros_like(t)
    for start in np.arange(0, seconds - 1, 0.5):
        hz = 261.6 * 2 ** (rng.choice([0, 2, 4, 5, 7, 9, 11, 12]) / 12)
        on = t >= start
        tt = t[on] - start
        out[on] += 0.2 * sum(np.sin(2 * np.pi * hz * k * tt) * np.exp(-tt * (2 + k)) / k ** 1.5 for k in range(1, 7))
    return out.clip(-1, 1).astype(np.float32)


def write_audio(path: Path, signal: np.ndarray, sr: int = SR, channels: int = 1, bitrate: str | None = None,
                out_sr: int | None = None) -> Path:
    """Encode with real ffmpeg (through pydub's export); the format comes from the file extension."""
    ffmpeg_binary()  # points pydub at the ffmpeg command line (FFMPEG_BINARY, the system's, else the wheel's)
    pcm = (np.clip(signal, -1, 1) * 32767).astype("<i2")
    if channels > 1:
        pcm = np.repeat(pcm[:, None], channels, axis=1).ravel()
    segment = AudioSegment(pcm.tobytes(), sample_width=2, frame_rate=sr, channels=channels)
    if out_sr:
        segment = segment.set_frame_rate(out_sr)
    fmt = {".m4a": "ipod", ".ogg": "ogg"}.get(path.suffix, path.suffix.lstrip("."))
    parameters = ["-c:a", "libvorbis"] if path.suffix == ".ogg" else None
    segment.export(str(path), format=fmt, bitrate=bitrate, parameters=parameters)
    return path


@pytest.fixture(scope="session")
def audio_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("audio")


@pytest.fixture(scope="session")
def song_mp3(audio_dir) -> Path:
    """A 20-s chord MP3 at 44.1 kHz stereo, as a user would upload."""
    return write_audio(audio_dir / "song.mp3", chord(20), channels=2, bitrate="192k", out_sr=44100)


def make_app(tmp_path: Path, **overrides):
    from app import create_app

    config = {"ANALYSIS_DIR": str(tmp_path / "store"), "UPLOAD_DIR": str(tmp_path / "uploads")}
    (tmp_path / "uploads").mkdir(parents=True, exist_ok=True)
    return create_app(config | overrides)


@pytest.fixture(scope="session")
def app_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("app")


@pytest.fixture(scope="session")
def app(app_dir):
    return make_app(app_dir)


@pytest.fixture()
def client(app, app_dir):
    yield app.test_client()
    leftovers = list((app_dir / "uploads").iterdir())
    assert leftovers == [], f"temp files left behind: {leftovers}"


def upload(client, path: Path, name: str | None = None, query: str = ""):
    with open(path, "rb") as handle:
        return client.post(f"/file-upload{query}", data={"file": (handle, name or path.name)},
                           content_type="multipart/form-data")

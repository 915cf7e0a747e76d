"""Music-like audio made here (numpy, encoded by the ffmpeg command line): a bench never uses anyone's songs.

The set of the upload benches: a 30-s and a 5-min MP3 (44.1 kHz stereo, 192 kbit/s) and a 30-s WAV of
chords, bass, melody and drums, every bar different so the encoder has real work to do.
"""
from __future__ import annotations

import io
import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np

FFMPEG = shutil.which("ffmpeg") or "ffmpeg"  # only to make the audio (libmp3lame)
UPLOAD_FILES = {  # kind -> (label, seconds, extension)
    "mp3_30": ("30-s MP3", 30, "mp3"),
    "wav_30": ("30-s WAV", 30, "wav"),
    "mp3_300": ("5-min MP3", 300, "mp3"),
}
# kind -> (file stem, seconds, seed): the WAV is the 30-s MP3's song
_SONGS = {"mp3_30": ("song30", 30, 1), "wav_30": ("song30", 30, 1), "mp3_300": ("song300", 300, 2)}


def midi_hz(note: float) -> float:
    return 440.0 * 2 ** ((note - 69) / 12)


def synth_music(seconds: float, sr: int = 44100, seed: int = 0) -> np.ndarray:
    """(samples, 2) float32 stereo: chords, bass, melody, kick/snare/hi-hat; every bar different."""
    rng = np.random.default_rng(seed)
    beat = int(sr * 60 / rng.uniform(96, 132))
    bar = 4 * beat
    eighth = beat // 2
    n = int(seconds * sr)
    out = np.zeros((n + bar, 2), np.float32)
    scale = np.array([0, 2, 4, 5, 7, 9, 11])
    key = int(rng.integers(45, 55))
    t_bar = np.arange(bar) / sr
    t_beat = np.arange(beat) / sr
    t_eighth = np.arange(eighth) / sr
    kick = (np.sin(2 * np.pi * np.cumsum(np.linspace(120, 45, beat // 2)) / sr) * np.exp(-t_beat[: beat // 2] * 18))
    for start in range(0, n, bar):
        degree = int(rng.integers(0, 7))
        triad = [key + 12 * (d // 7) + scale[d % 7] for d in (degree, degree + 2, degree + 4, degree + 6)]
        chord = np.zeros(bar)
        for note in triad[: 3 + int(rng.integers(0, 2))]:
            f, phase = midi_hz(note + 12) * rng.uniform(0.997, 1.003), rng.uniform(0, 2 * np.pi)
            for h in range(1, 6):
                chord += rng.uniform(0.3, 0.6) ** h * np.sin(2 * np.pi * f * h * t_bar + phase * h)
        chord *= np.exp(-t_bar * rng.uniform(0.3, 1.5)) * 0.18
        bass = np.zeros(bar)
        melody = np.zeros(bar)
        drums = np.zeros((bar, 2))
        f_bass = midi_hz(triad[0] - 12)
        for b in range(4):
            sl = slice(b * beat, (b + 1) * beat)
            bass[sl] = 0.35 * np.sin(2 * np.pi * f_bass * rng.choice([1, 1, 1.5, 2]) * t_beat) * np.exp(-t_beat * 4)
            if b % 2 == 0 or rng.random() < 0.2:
                drums[b * beat : b * beat + len(kick)] += 0.7 * kick[:, None]
            if b % 2 == 1:
                snare = rng.standard_normal(beat // 3) * np.exp(-t_beat[: beat // 3] * 25) * 0.35
                drums[b * beat : b * beat + len(snare)] += snare[:, None] * [0.9, 1.0]
        for e in range(8):
            sl = slice(e * eighth, (e + 1) * eighth)
            hat = np.diff(rng.standard_normal(eighth + 1)) * np.exp(-t_eighth * rng.uniform(40, 90))
            drums[sl] += (rng.uniform(0.04, 0.12) * hat)[:, None] * [1.0, 0.7]
            if rng.random() < 0.7:
                f = midi_hz(key + 24 + scale[int(rng.integers(0, 7))] + 12 * int(rng.integers(0, 2)))
                vibrato = 0.004 * np.sin(2 * np.pi * 5.5 * t_eighth)
                envelope = np.minimum(1, t_eighth * 80) * np.exp(-t_eighth * 6)
                melody[sl] = 0.2 * np.sin(2 * np.pi * f * t_eighth * (1 + vibrato)) * envelope
        pan_c, pan_m = rng.uniform(0.3, 0.7), rng.uniform(0.2, 0.8)
        out[start : start + bar, 0] += chord * (1 - pan_c) + melody * (1 - pan_m) + bass * 0.5 + drums[:, 0]
        out[start : start + bar, 1] += chord * pan_c + melody * pan_m + bass * 0.5 + drums[:, 1]
    out = out[:n]
    out += 0.003 * rng.standard_normal(out.shape).astype(np.float32)
    out *= 0.89 / max(1e-9, float(np.max(np.abs(out))))
    return out.astype(np.float32)


def encode(signal: np.ndarray, path: Path, sr: int = 44100) -> Path:
    """Interleaved float32 stereo -> MP3 (libmp3lame CBR 192k) or WAV (16-bit PCM) by extension."""
    codec = ["-c:a", "libmp3lame", "-b:a", "192k"] if path.suffix == ".mp3" else ["-c:a", "pcm_s16le"]
    command = [FFMPEG, "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
               "-f", "f32le", "-ar", str(sr), "-ac", "2", "-i", "pipe:0", *codec, str(path)]
    subprocess.run(command, input=np.ascontiguousarray(signal).tobytes(), check=True, timeout=300)
    return path


def wav_bytes(signal: np.ndarray, sr: int = 44100) -> bytes:
    """(samples,) or (samples, channels) float32 -> a 16-bit PCM WAV in memory, no ffmpeg: for benches that
    send thousands of short takes."""
    frames = signal if signal.ndim == 2 else signal[:, None]
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(frames.shape[1])
        wav.setsampwidth(2)
        wav.setframerate(sr)
        wav.writeframes((np.clip(frames, -1, 1) * 32767).astype("<i2").tobytes())
    return out.getvalue()


def make_audio(folder: Path, counts: dict[str, int]) -> dict[str, list[Path]]:
    """``counts[kind]`` files of each kind of ``UPLOAD_FILES``, copies of one song that differ by an inaudible
    noise (-80 dBFS, a seed of its own each): the server answers audio it has seen from its database, so a
    bench that times analyses must send new audio every time, or it times lookups."""
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, list[Path]] = {}
    songs: dict[tuple[int, int], np.ndarray] = {}
    for kind, count in counts.items():
        stem, seconds, seed = _SONGS[kind]
        if count and (seconds, seed) not in songs:
            songs[seconds, seed] = synth_music(seconds, seed=seed)
        files[kind] = []
        for copy in range(count):
            base = songs[seconds, seed]
            dither = 1e-4 * np.random.default_rng(1000 + copy).standard_normal(base.shape).astype(np.float32)
            files[kind].append(encode(base + dither, folder / f"{stem}-{copy}.{UPLOAD_FILES[kind][2]}"))
    return files


def one_of_each(folder: Path) -> dict[str, Path]:
    """One file of each kind of ``UPLOAD_FILES``."""
    return {kind: paths[0] for kind, paths in make_audio(folder, dict.fromkeys(UPLOAD_FILES, 1)).items()}

"""Copies of training audio in another encoding, kept on disk so their cached features stay valid.

The electronic clips are 48 kbit/s MP3 and the GTZAN clips 96 kbit/s: a model can learn the codec
instead of the music. Training therefore also hears every GTZAN file re-encoded exactly like the
electronic clips (``ishkur_mp3``), and the evaluation checks that such copies are not called
electronic. Copies live in ``<cache>/<variant>/<parent>/<name>``: made once, never rewritten (their
modification time is part of every feature-cache key).
"""
from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from genrelens.analysis.audio import ffmpeg_binary

# ffmpeg output options and file suffix of each variant
VARIANTS: dict[str, tuple[list[str], str]] = {
    # how ../shared/data/ishkur was encoded: MP3, mono, 22,050 Hz, constant 48 kbit/s (LAME)
    "ishkur_mp3": (["-ac", "1", "-ar", "22050", "-codec:a", "libmp3lame", "-b:a", "48k"], ".mp3"),
    "mp3_64kbps": (["-ac", "1", "-codec:a", "libmp3lame", "-b:a", "64k"], ".mp3"),
    "gain_minus_12db": (["-af", "volume=-12dB", "-codec:a", "pcm_s16le"], ".wav"),
    "stereo_44100hz": (["-ac", "2", "-ar", "44100", "-codec:a", "pcm_s16le"], ".wav"),
}


def encode(path: Path | str, variant: str, out: Path) -> Path:
    """``path`` re-encoded as ``variant`` into the file ``out`` (its suffix is the variant's)."""
    options, _ = VARIANTS[variant]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(".tmp-" + out.name)
    command = [ffmpeg_binary(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i", str(path),
               *options, "-f", "mp3" if out.suffix == ".mp3" else "wav", str(tmp)]
    subprocess.run(command, check=True, capture_output=True, timeout=120)
    tmp.replace(out)
    return out


def variant_path(path: Path, variant: str, cache_dir: Path) -> Path:
    """Where the persistent ``variant`` copy of ``path`` lives (same stem, so the track id is kept)."""
    return Path(cache_dir) / variant / path.parent.name / (path.stem + VARIANTS[variant][1])


def variant_files(files: list, variant: str, cache_dir: Path, workers: int = 2) -> list:
    """``files`` (dataclasses with a ``path``) pointing at their ``variant`` copies, made where missing."""
    targets = [variant_path(Path(f.path), variant, cache_dir) for f in files]
    todo = [(f.path, t) for f, t in zip(files, targets) if not t.exists()]
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda job: encode(job[0], variant, job[1]), todo))
    return [replace(f, path=t) for f, t in zip(files, targets)]

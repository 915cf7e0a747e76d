"""Decode any audio ffmpeg reads into mono float32 PCM, in one ffmpeg pass, in memory.

pydub locates the ffmpeg binary (``AudioSegment.converter``), but its ``from_file`` runs ffprobe
first, appends extra arguments after the output and has no timeout; so the single decode pass is
issued here directly: ``ffmpeg -t CAP -i FILE -ac 1 -ar SR -f f32le -``. The system ffmpeg is used
when there is one, else the ``imageio-ffmpeg`` wheel's, so ``pip install`` alone gives a decoder.
"""
from __future__ import annotations

import logging
import os
import re
import subprocess
import threading
import time
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from pydub import AudioSegment
from pydub.utils import which

log = logging.getLogger(__name__)

_LOG_PART = 32 * 1024  # bytes of ffmpeg's log kept from its start and from its end
_DURATION = re.compile(rb"Duration:\s*(\d+):(\d{2}):(\d{2}(?:\.\d+)?)")


class DecodeError(Exception):
    """The bytes are not audio that ffmpeg can decode (or decoding ran out of time)."""


class DecoderUnavailable(Exception):
    """ffmpeg itself is missing or broken: no fault of the upload (the API answers 503)."""


DECODER_CHECK_EVERY_S = 30.0
_decoder_check: dict = {"at": float("-inf"), "problem": None}


@dataclass(frozen=True)
class DecodedAudio:
    samples: np.ndarray  # float32, mono, in [-1, 1]
    sample_rate: int
    source_duration_s: float  # length of the whole file, as its container says (or what was decoded)
    capped: bool = False  # decoding stopped at the cap with more audio after it (or a length nobody states)

    @property
    def analyzed_s(self) -> float:
        return len(self.samples) / self.sample_rate


def rms(samples: np.ndarray) -> float:
    """Root-mean-square level of ``samples`` (one BLAS dot product: no float64 copy of a long signal)."""
    samples = np.ravel(samples)
    return float(np.sqrt(np.dot(samples, samples) / samples.size)) if samples.size else 0.0


def loop_to(samples: np.ndarray, length: int) -> np.ndarray:
    """``samples`` repeated end to end and cut to ``length`` (a short clip looped, never zero-padded)."""
    if len(samples) >= length:
        return samples[:length]
    return np.tile(samples, -(-length // max(len(samples), 1)))[:length]


@lru_cache(maxsize=1)
def ffmpeg_binary() -> str:
    """The ffmpeg to use: ``FFMPEG_BINARY`` if set, else the system's, else the imageio-ffmpeg wheel's.

    Measured here (bench/profile_upload.py): the wheel's static ffmpeg 7 starts in ~10 ms where
    Debian's dynamically linked ffmpeg 5.1 takes 50-80 ms, but its threaded command line costs
    100-250 ms more on a 5-minute file. The system binary wins where it matters most.
    """
    path = os.environ.get("FFMPEG_BINARY") or which("ffmpeg")
    if not path:
        import imageio_ffmpeg  # a pinned static build: `pip install` alone gives a working decoder

        path = imageio_ffmpeg.get_ffmpeg_exe()
    AudioSegment.converter = path
    log.info("using ffmpeg at %s", path)
    return path


def decoder_problem() -> str | None:
    """None when ffmpeg answers ``-version``; else what is wrong with it (checked at most every 30 s)."""
    if time.monotonic() - _decoder_check["at"] < DECODER_CHECK_EVERY_S:
        return _decoder_check["problem"]
    binary = ffmpeg_binary()
    try:
        done = subprocess.run([binary, "-version"], stdin=subprocess.DEVNULL, capture_output=True, timeout=10)
        problem = None if done.returncode == 0 and b"ffmpeg" in done.stdout else \
            f"ffmpeg at {binary} does not work (exit status {done.returncode})"
    except OSError as exc:
        problem = f"ffmpeg at {binary} cannot be started ({exc.strerror or exc})"
    except subprocess.TimeoutExpired:
        problem = f"ffmpeg at {binary} does not answer"
    _decoder_check.update(at=time.monotonic(), problem=problem)
    return problem


def decode(path: str, sample_rate: int, max_seconds: float, timeout_s: float = 60.0) -> DecodedAudio:
    """Decode at most ``max_seconds`` of ``path`` to mono ``sample_rate`` Hz float32 samples."""
    command = [
        ffmpeg_binary(), "-nostdin", "-hide_banner", "-nostats", "-loglevel", "info",
        "-t", f"{max_seconds:.3f}", "-i", path,
        "-map", "0:a:0", "-vn", "-sn", "-dn",
        # rematrix_maxval 1: the downmix averages the channels; ffmpeg's default stereo->mono
        # sums them at -3 dB each, which makes a typical (correlated) stereo song 3 dB louder than
        # its mono version and clips loud masters.
        "-ac", "1", "-rematrix_maxval", "1.0", "-ar", str(sample_rate), "-f", "f32le", "pipe:1",
    ]
    pcm, returncode, stderr = _run_bounded(command, max_bytes=4 * int((max_seconds + 1) * sample_rate), timeout_s=timeout_s)
    samples = np.frombuffer(pcm, dtype="<f4", count=len(pcm) // 4)  # a writable view, no copy
    if samples.size == 0:
        problem = decoder_problem()  # the file's fault, or the decoder's?
        if problem:
            raise DecoderUnavailable(problem)
        raise DecodeError(_ffmpeg_reason(stderr, path))
    if returncode != 0:
        # Damaged tail (truncated file): keep what decoded, as a media player would.
        log.info("ffmpeg exited %s after %d samples: %s", returncode, samples.size, _ffmpeg_reason(stderr, path))
    np.nan_to_num(samples, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    np.clip(samples, -1.0, 1.0, out=samples)
    decoded_s = samples.size / sample_rate
    stopped = decoded_s >= max_seconds - 1.0 / sample_rate * 1024
    # Only a decode stopped at the cap needs the container's word for the full length; otherwise what
    # decoded is the truth (a damaged header may claim more than there is). A stream that states no
    # length (a browser's WebM recording) and reached the cap is taken to go on.
    container_s = _container_duration(stderr) if stopped else None
    source_s = max(container_s or 0.0, decoded_s)
    capped = stopped and (container_s is None or container_s > decoded_s + 0.5)
    return DecodedAudio(samples, sample_rate, source_s, capped)


class _LogKeeper(threading.Thread):
    """Reads a process's log as it comes and keeps its first and last ``_LOG_PART`` bytes, nothing more:
    a damaged file can make ffmpeg log megabytes a second, for as long as the decode timeout."""

    def __init__(self, stream):
        super().__init__(daemon=True)
        self._stream = stream
        self.head = bytearray()
        self.tail = bytearray()

    def run(self) -> None:
        while chunk := self._stream.read1(1 << 16):
            room = _LOG_PART - len(self.head)
            self.head += chunk[:room]
            self.tail += chunk[room:] if room > 0 else chunk
            del self.tail[: max(0, len(self.tail) - _LOG_PART)]

    def text(self) -> bytes:
        return bytes(self.head) + b"\n" + bytes(self.tail)


def _run_bounded(command: list[str], max_bytes: int, timeout_s: float) -> tuple[bytearray, int, bytes]:
    """Run ffmpeg; keep at most ``max_bytes`` of its output and the head and tail of its log (in memory).

    The process is killed after ``timeout_s``.
    """
    try:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except OSError as exc:
        raise DecoderUnavailable(f"ffmpeg at {command[0]} cannot be started ({exc.strerror or exc})") from exc
    log_keeper = _LogKeeper(process.stderr)
    log_keeper.start()
    timed_out = threading.Event()

    def kill() -> None:
        timed_out.set()
        process.kill()

    timer = threading.Timer(timeout_s, kill)
    timer.start()
    pcm = bytearray()
    try:
        while len(pcm) < max_bytes:
            chunk = process.stdout.read1(1 << 20)
            if not chunk:
                break
            pcm += chunk
        process.stdout.close()  # anything past the cap: ffmpeg stops on a broken pipe
        returncode = process.wait()
    finally:
        timer.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()
        log_keeper.join(timeout=5)
        process.stderr.close()
    if timed_out.is_set():
        raise DecodeError(f"decoding took longer than {timeout_s:.0f} s")
    del pcm[min(len(pcm), max_bytes) // 4 * 4 :]  # whole float32 samples, at most the cap
    return pcm, returncode, log_keeper.text()


def _container_duration(stderr: bytes) -> float | None:
    match = _DURATION.search(stderr)
    if not match:
        return None
    hours, minutes, seconds = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def _ffmpeg_reason(stderr: bytes, path: str) -> str:
    """The last meaningful line ffmpeg printed, for the error message (without our temp path)."""
    lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    for line in reversed(lines):
        if any(word in line for word in ("Error", "Invalid", "invalid", "not", "No ", "failed")):
            line = line.replace(f"{path}: ", "").replace(path, "the file")
            return line[:200]
    return "no audio stream found"

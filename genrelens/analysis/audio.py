"""Decode any audio FFmpeg reads into mono float32 PCM, in-process with PyAV, in memory.

PyAV (the ``av`` wheel) carries FFmpeg's own libraries, so there is no process to start per upload
and ``pip install`` alone gives a decoder. The first audio stream is decoded packet by packet and
every frame goes through libswresample (FFmpeg's ``aresample``) to mono float32 at the model's
rate, with the settings the ffmpeg command line used before (``-ac 1 -rematrix_maxval 1.0 -ar SR``):
the channels are averaged, not summed at -3 dB each (which makes a typical stereo song 3 dB louder
than its mono version and clips loud masters), and the resampler is swr's default, the one the
training features were computed with (``bench/decode_parity.py`` measures the difference).

Bounds: at most ``max_seconds`` of audio are kept (what decodes past the cap is never stored), the
wall clock is checked between packets and FFmpeg's own I/O is interrupted past the timeout, and a
damaged stream keeps what decoded before the damage, as a media player would. Only the ``file``
protocol and demuxers that read nothing but the upload are allowed (``REFUSED_FORMATS``). FFmpeg's
log stays off (PyAV's default), so a damaged file cannot flood the server's log.

``ffmpeg_binary()`` is the ffmpeg command line, which the service no longer needs: the tests and
``training/reencode.py`` use it to make files.
"""
from __future__ import annotations

import errno
import logging
import os
import time
from dataclasses import dataclass
from functools import lru_cache
from shutil import which  # a module attribute: tests/test_pipeline.py replaces it

import numpy as np

log = logging.getLogger(__name__)


class DecodeError(Exception):
    """The bytes are not audio that FFmpeg can decode (or decoding ran out of time)."""


class DecoderUnavailable(Exception):
    """The decoder itself (PyAV and its FFmpeg libraries) is missing or broken: no fault of the upload (503)."""


DECODER_CHECK_EVERY_S = 30.0
_decoder_check: dict = {"at": float("-inf"), "problem": None}
# libswresample options of the downmix: average the channels (the ffmpeg CLI's -rematrix_maxval 1.0)
RESAMPLER_OPTIONS = {"rematrix_maxval": "1.0"}


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
    """The ffmpeg command line for making files (tests, training): ``FFMPEG_BINARY`` if set, else the
    system's, else the imageio-ffmpeg wheel's. pydub, when installed, is pointed at the same one.
    The service decodes with PyAV and never runs it."""
    path = os.environ.get("FFMPEG_BINARY") or which("ffmpeg")
    if not path:
        import imageio_ffmpeg

        path = imageio_ffmpeg.get_ffmpeg_exe()
    try:
        from pydub import AudioSegment
    except ImportError:
        pass
    else:
        AudioSegment.converter = path
    return path


def _av():
    """PyAV, imported when first needed: a missing or broken install must not stop the app from
    starting, so that ``/healthz`` can say what is wrong."""
    import av

    return av


# Demuxers that read other files or the network from what the upload says (an HLS playlist, a concat
# list, a DASH manifest, an SDP session, an image sequence): an upload is audio, never a pointer to other
# data. (The ffmpeg 5.1 command line decoded the local files an uploaded HLS playlist named.) Every
# other demuxer of the wheel is allowed, and only the ``file`` protocol.
REFUSED_FORMATS = frozenset({"hls", "applehttp", "hds", "concat", "dash", "webm_dash_manifest", "sdp", "rtsp",
                             "rtp", "image2", "image2pipe", "lavfi"})
_open_options: dict = {}


def _container_options(av) -> dict:
    if not _open_options:
        allowed = ",".join(sorted(set(av.formats_available) - REFUSED_FORMATS))
        _open_options.update(protocol_whitelist="file", format_whitelist=allowed)
    return _open_options


def _resampler(av, sample_rate: int):
    return av.AudioResampler(format="flt", layout="mono", rate=sample_rate, options=RESAMPLER_OPTIONS)


def decoder_problem() -> str | None:
    """None when PyAV imports and resamples a test frame; else what is wrong (checked at most every 30 s)."""
    if time.monotonic() - _decoder_check["at"] < DECODER_CHECK_EVERY_S:
        return _decoder_check["problem"]
    try:
        av = _av()
    except Exception as exc:  # ImportError, or OSError from a shared library that does not load
        problem = f"PyAV (the av package) cannot be imported: {type(exc).__name__}: {exc}"
    else:
        try:
            frame = av.AudioFrame.from_ndarray(np.full((2, 4410), 0.5, np.float32), format="fltp", layout="stereo")
            frame.sample_rate = 44100
            resampler = _resampler(av, 22050)
            out = resampler.resample(frame) + resampler.resample(None)
            got = sum(f.samples for f in out)
            problem = None if 2000 <= got <= 2300 else f"PyAV's resampler gave {got} samples for 2205"
        except Exception as exc:
            problem = f"PyAV {getattr(av, '__version__', '?')} does not decode: {type(exc).__name__}: {exc}"
    _decoder_check.update(at=time.monotonic(), problem=problem)
    return problem


def decode(path: str, sample_rate: int, max_seconds: float, timeout_s: float = 60.0) -> DecodedAudio:
    """Decode at most ``max_seconds`` of ``path``'s first audio stream to mono ``sample_rate`` Hz float32."""
    try:
        av = _av()
    except Exception as exc:
        raise DecoderUnavailable(f"PyAV (the av package) cannot be imported: {type(exc).__name__}: {exc}") from exc
    deadline = time.monotonic() + timeout_s
    try:
        # timeout: FFmpeg's own reads (probing, each packet) are interrupted past it, so a slow or
        # pathological input cannot hold the worker inside one call.
        container = av.open(path, metadata_errors="replace", timeout=(timeout_s, timeout_s),
                            container_options=_container_options(av))
    except av.error.ExitError as exc:
        raise DecodeError(f"decoding took longer than {timeout_s:.0f} s") from exc
    except (av.error.FFmpegError, ValueError, UnicodeError) as exc:
        if getattr(exc, "errno", None) == errno.EINVAL:  # what a format off the whitelist gets
            raise DecodeError("not a media file we open: playlists and lists that point to other files are "
                              "refused") from exc
        raise DecodeError(_reason(exc, path)) from exc
    with container:
        pcm, more_after, problem = _decode_stream(av, container, path, sample_rate, max_seconds, deadline, timeout_s)
        container_s = container.duration / 1e6 if container.duration and container.duration > 0 else None
    samples = np.frombuffer(pcm, dtype=np.float32)  # a writable view of the bytearray, no copy
    if samples.size == 0:
        other = decoder_problem()  # the file's fault, or the decoder's?
        if other:
            raise DecoderUnavailable(other)
        raise DecodeError(problem or "no audio decoded")
    if problem:
        # Damaged tail (truncated file): keep what decoded, as a media player would.
        log.info("decoding stopped after %d samples: %s", samples.size, problem)
    _clean(samples)
    decoded_s = samples.size / sample_rate
    # Only a decode stopped at the cap needs the container's word for the full length; otherwise what
    # decoded is the truth (a damaged header may claim more than there is). A stream that states no
    # length (a browser's WebM recording) and went on past the cap is capped.
    source_s = max(container_s or 0.0, decoded_s) if more_after else decoded_s
    capped = more_after and (container_s is None or container_s > decoded_s + 0.5)
    return DecodedAudio(samples, sample_rate, source_s, capped)


class _ToMono:
    """Decoded frames in, mono float32 bytes out, at most ``max_bytes`` of them.

    Frames are gathered in an ``AudioFifo`` and resampled ``CHUNK`` samples at a time: the same
    output as frame by frame (libswresample keeps its state across calls), with a fifth less time
    on a 5-minute MP3, whose 1,152-sample frames otherwise each make a trip through the filter graph.
    A change of rate, layout or sample format midway (chained Ogg, a spliced MP3) drains the current
    resampler and starts a new one, as the ffmpeg command line reconfigures its filter graph.
    """

    CHUNK = 8192

    def __init__(self, av, sample_rate: int, max_bytes: int):
        self._av, self._rate, self.max_bytes = av, sample_rate, max_bytes
        self.pcm = bytearray()
        self._shape = self._fifo = self._resampler = None

    def push(self, frame) -> None:
        shape = (frame.format.name, frame.layout.name, frame.sample_rate)
        if shape != self._shape:
            self.drain()
            self._shape, self._fifo, self._resampler = shape, self._av.AudioFifo(), _resampler(self._av, self._rate)
        frame.pts = None  # the fifo joins frames by count; gaps in the timestamps are not ours to fill
        self._fifo.write(frame)
        while self._fifo.samples >= self.CHUNK:
            self._take(self._resampler.resample(self._fifo.read(self.CHUNK)))

    def drain(self) -> None:
        if self._resampler is None:
            return
        rest = self._fifo.read()
        self._take((self._resampler.resample(rest) if rest is not None else []) + self._resampler.resample(None))
        self._shape = self._fifo = self._resampler = None

    def _take(self, frames) -> None:
        for out in frames:
            room = self.max_bytes - len(self.pcm)
            if room > 0:
                self.pcm.extend(memoryview(out.to_ndarray()).cast("B")[:room])


def _decode_stream(av, container, path: str, sample_rate: int, max_seconds: float, deadline: float,
                   timeout_s: float) -> tuple[bytearray, bool, str | None]:
    """The first audio stream as mono float32 bytes, at most ``max_seconds`` of it; whether there was
    audio past the cap; the last thing that went wrong (a damaged packet or tail; None if nothing)."""
    if not container.streams.audio:
        return bytearray(), False, "no audio stream found"
    stream = container.streams.audio[0]
    if stream.codec_context is None:
        return bytearray(), False, "no decoder for this audio codec"
    mono = _ToMono(av, sample_rate, 4 * int(round(max_seconds * sample_rate)))
    seen_s = 0.0  # seconds of the source decoded and passed on
    more_after, stopped, problem = False, False, None
    packets = container.demux(stream)
    while not (more_after or stopped):
        if time.monotonic() > deadline:
            raise DecodeError(f"decoding took longer than {timeout_s:.0f} s")
        try:
            packet = next(packets)
        except StopIteration:
            break
        except av.error.ExitError as exc:
            raise DecodeError(f"decoding took longer than {timeout_s:.0f} s") from exc
        except (av.error.FFmpegError, ValueError, UnicodeError) as exc:
            problem = _reason(exc, path)  # a damaged container: keep what decoded, as ffmpeg did
            break
        except IndexError:  # PyAV's demuxer meets a stream that appeared midway (a damaged MPEG-TS)
            problem = "a stream appeared in the middle of the file"
            break
        try:
            frames = packet.decode()
        except (av.error.FFmpegError, ValueError) as exc:
            problem = _reason(exc, path)  # one damaged packet: skip it and go on, as ffmpeg does
            continue
        for frame in frames:
            if seen_s >= max_seconds:
                more_after = True  # audio past the cap: known, never stored
                break
            if frame.samples > 0 and frame.sample_rate > 0:
                try:
                    mono.push(frame)
                except (av.error.FFmpegError, ValueError) as exc:
                    problem, stopped = _reason(exc, path), True  # a frame no resampler takes: keep what decoded
                    break
                seen_s += frame.samples / frame.sample_rate
    try:
        mono.drain()
    except (av.error.FFmpegError, ValueError) as exc:
        problem = _reason(exc, path)
    return mono.pcm, more_after or (seen_s > max_seconds and not stopped), problem


def _clean(samples: np.ndarray, block: int = 1 << 18) -> None:
    """NaN and infinities to 0, the rest clipped to [-1, 1], in place, a block at a time: no full-length
    temporary (``np.nan_to_num`` makes three masks of the whole signal)."""
    for first in range(0, samples.size, block):
        part = samples[first : first + block]
        part[~np.isfinite(part)] = 0.0
        np.clip(part, -1.0, 1.0, out=part)


def _reason(exc: Exception, path: str) -> str:
    """What FFmpeg said, for the error message (without our temp path)."""
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return str(text).replace(path, "the file")[:200]

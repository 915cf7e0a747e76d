"""The in-process decoder (PyAV): what the models were trained on, channels, streams, odd streams, phone copies."""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import SR, chord, upload, write_audio
from genrelens.analysis.audio import DecodeError, decode, ffmpeg_binary, rms


def ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_binary(), "-nostdin", "-loglevel", "error", "-y", *args], check=True, timeout=60)


def cli_decode(path: Path) -> np.ndarray:
    """The ffmpeg command line the training features were decoded with (and the server, until PyAV)."""
    done = subprocess.run([ffmpeg_binary(), "-nostdin", "-loglevel", "error", "-t", "600", "-i", str(path),
                           "-map", "0:a:0", "-vn", "-sn", "-dn", "-ac", "1", "-rematrix_maxval", "1.0",
                           "-ar", str(SR), "-f", "f32le", "pipe:1"], capture_output=True, check=True, timeout=60)
    return np.frombuffer(done.stdout, "<f4")


def dominant_hz(samples: np.ndarray, sr: int = SR) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / sr)[np.argmax(spectrum)])


@pytest.fixture(scope="module")
def stereo_source(audio_dir) -> Path:
    """6 s of 44.1 kHz stereo whose channels differ: a tone on the left, noise on the right."""
    path = audio_dir / "decode-stereo.wav"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=6", "-f", "lavfi", "-i", "anoisesrc=d=6:a=0.1:seed=4",
           "-filter_complex", "[0][1]amerge=inputs=2", "-ar", "44100", str(path))
    return path


@pytest.mark.parametrize("name, args", [
    ("mp3", ["-c:a", "libmp3lame", "-b:a", "192k"]),
    ("m4a", ["-c:a", "aac", "-b:a", "128k"]),
    ("ogg", ["-c:a", "libvorbis"]),
    ("webm", ["-c:a", "libopus", "-b:a", "64k", "-f", "webm"]),
    ("flac", ["-c:a", "flac"]),
    ("wav", ["-ar", "8000"]),
])
def test_the_samples_are_those_of_the_ffmpeg_command_line_the_models_were_trained_on(audio_dir, stereo_source, name,
                                                                                     args):
    """Same decoders, same downmix (channels averaged), same resampler (libswresample's defaults):
    the same samples, so the features match those of training."""
    path = audio_dir / f"parity.{name}"
    ffmpeg("-i", str(stereo_source), *args, str(path))
    ours, theirs = decode(str(path), SR, 600).samples, cli_decode(path)
    assert len(ours) == len(theirs)
    assert np.abs(ours - theirs).max() < 1e-4


def test_channels_are_averaged_not_summed(audio_dir):
    """A tone on the left only comes out at half its amplitude (-6 dB); on both channels, at full."""
    tone = chord(4, seed=21)
    left_only, both = audio_dir / "left-only.wav", audio_dir / "both.wav"
    ffmpeg("-i", str(write_audio(audio_dir / "tone.wav", tone)), "-af", "pan=stereo|c0=c0", str(left_only))
    ffmpeg("-i", str(audio_dir / "tone.wav"), "-af", "pan=stereo|c0=c0|c1=c0", str(both))
    mono = decode(str(audio_dir / "tone.wav"), SR, 600).samples
    np.testing.assert_allclose(decode(str(both), SR, 600).samples, mono, atol=1e-4)
    np.testing.assert_allclose(decode(str(left_only), SR, 600).samples, mono / 2, atol=1e-4)


def test_the_first_audio_stream_is_decoded_and_video_is_ignored(audio_dir):
    """A video with two audio tracks (440 Hz, then 880 Hz) gives the first track; a video without
    sound is refused with the reason."""
    movie, silent_movie = audio_dir / "two-tracks.mp4", audio_dir / "no-sound.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=duration=4:size=160x120:rate=10", "-f", "lavfi", "-i",
           "sine=frequency=440:duration=4", "-f", "lavfi", "-i", "sine=frequency=880:duration=4",
           "-map", "0", "-map", "1", "-map", "2", "-c:v", "mpeg4", "-c:a", "aac", str(movie))
    ffmpeg("-f", "lavfi", "-i", "testsrc=duration=2:size=160x120:rate=10", "-c:v", "mpeg4", str(silent_movie))
    decoded = decode(str(movie), SR, 600)
    assert decoded.analyzed_s == pytest.approx(4, abs=0.05)
    assert dominant_hz(decoded.samples) == pytest.approx(440, abs=2)
    with pytest.raises(DecodeError, match="no audio stream"):
        decode(str(silent_movie), SR, 600)


def test_a_stream_that_changes_rate_and_channels_midway_is_decoded_whole(audio_dir):
    """Two MP3s joined (44.1 kHz mono 440 Hz, then 22.05 kHz stereo 660 Hz), as a spliced download
    is: the resampler is rebuilt at the change and both halves come out at the served rate."""
    first, second = audio_dir / "first.mp3", audio_dir / "second.mp3"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=4", "-ar", "44100", "-b:a", "128k", str(first))
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=660:duration=4", "-ar", "22050", "-af", "pan=stereo|c0=c0|c1=c0",
           "-b:a", "64k", str(second))
    spliced = audio_dir / "spliced.mp3"
    spliced.write_bytes(first.read_bytes() + second.read_bytes())
    samples = decode(str(spliced), SR, 600).samples
    assert len(samples) / SR == pytest.approx(8, abs=0.15)
    assert dominant_hz(samples[SR : 3 * SR]) == pytest.approx(440, abs=2)
    assert dominant_hz(samples[5 * SR : 7 * SR]) == pytest.approx(660, abs=2)
    assert rms(samples[5 * SR : 7 * SR]) == pytest.approx(rms(samples[SR : 3 * SR]), rel=0.05)


def test_nan_and_infinite_samples_become_silence_and_the_rest_is_clipped(audio_dir):
    import soundfile

    signal = (0.5 * np.sin(2 * np.pi * 440 * np.arange(3 * SR) / SR)).astype(np.float32)
    signal[[1000, 2000, 3000]] = [np.nan, np.inf, -np.inf]
    signal[4000] = 5.0
    path = audio_dir / "nan.wav"
    soundfile.write(path, signal, SR, subtype="FLOAT")
    samples = decode(str(path), SR, 600).samples
    assert np.isfinite(samples).all() and np.abs(samples).max() <= 1.0
    assert samples[[1000, 2000, 3000]].tolist() == [0.0, 0.0, 0.0] and samples[4000] == 1.0
    np.testing.assert_array_equal(samples[5000:], signal[5000:])


def test_the_cap_keeps_exactly_its_length_and_says_whether_more_followed(audio_dir):
    path = write_audio(audio_dir / "ten.flac", chord(10, seed=22))
    capped = decode(str(path), SR, max_seconds=4)
    assert len(capped.samples) == 4 * SR and capped.capped and capped.source_duration_s == pytest.approx(10, abs=0.01)
    whole = decode(str(path), SR, max_seconds=10)
    assert len(whole.samples) == 10 * SR and not whole.capped
    np.testing.assert_array_equal(capped.samples, whole.samples[: 4 * SR])


# ----------------------------------------------------------------------------- issue 13, 3.8: .amr and .3gp


def phone_recording(seconds: float = 12.0) -> np.ndarray:
    """Music through a phone's band (300-3400 Hz) at 8 kHz with a little room noise, as int16."""
    from scipy.signal import butter, sosfilt

    sr = 8000
    t = np.arange(int(seconds * sr)) / sr
    music = sum(np.sin(2 * np.pi * hz * t) for hz in (220, 277, 330, 440)) / 4
    music *= 0.6 + 0.4 * (np.mod(t, 0.5) < 0.25)  # a pulse on the beat
    music += 0.02 * np.random.default_rng(5).standard_normal(len(t))
    band = sosfilt(butter(4, [300, 3400], btype="band", fs=sr, output="sos"), music)
    return (0.4 * band / np.abs(band).max() * 32767).astype(np.int16)


def amr_nb(path: Path, container: str, pcm: np.ndarray) -> Path:
    """AMR-NB at 12.2 kbit/s (the phone codec), encoded by the wheel's libopencore (Debian's ffmpeg has no
    AMR encoder), written straight into ``container`` (``amr`` or ``3gp``)."""
    import av

    with av.open(str(path), "w", format=container) as out:
        stream = out.add_stream("libopencore_amrnb", rate=8000, layout="mono")
        stream.bit_rate = 12200
        frame = av.AudioFrame.from_ndarray(pcm[np.newaxis, :], format="s16", layout="mono")
        frame.sample_rate = 8000
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    return path


def remux(source: Path, target: Path, container: str) -> Path:
    """The same packets in another container, as a phone's recorder writes either (no re-encoding)."""
    import av

    with av.open(str(source)) as inp, av.open(str(target), "w", format=container) as out:
        stream = out.add_stream_from_template(inp.streams.audio[0])
        for packet in inp.demux(inp.streams.audio[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    return target


def test_one_phone_recording_as_amr_and_as_3gp_decodes_to_the_same_samples(audio_dir):
    amr = amr_nb(audio_dir / "phone.amr", "amr", phone_recording())
    three_gp = remux(amr, audio_dir / "phone-remuxed.3gp", "3gp")
    from_amr, from_3gp = decode(str(amr), SR, 600), decode(str(three_gp), SR, 600)
    assert from_amr.analyzed_s == pytest.approx(12, abs=0.05)
    np.testing.assert_array_equal(from_amr.samples, from_3gp.samples)


def test_amr_and_3gp_written_by_ffmpeg_give_the_same_length_level_and_segments(client, audio_dir):
    """`ffmpeg -i rec.wav rec.amr` and `... rec.3gp` (imageio-ffmpeg's build: Debian's has no AMR
    encoder): the .3gp records the encoder's delay in an edit list, the raw .amr cannot, so the two
    decode ~6 ms apart (138 samples at 22.05 kHz; bench/decode_parity.py shows what that offset alone
    does to the served model's answer); otherwise alike: length, level, and the API's segments."""
    import imageio_ffmpeg
    import soundfile
    from scipy.signal import correlate

    recording = audio_dir / "recording-8k.wav"
    soundfile.write(recording, phone_recording(), 8000, subtype="PCM_16")
    copies = [audio_dir / "ffmpeg.amr", audio_dir / "ffmpeg.3gp"]
    for copy in copies:
        subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", "-i", str(recording),
                        "-c:a", "libopencore_amrnb", "-b:a", "12.2k", str(copy)], check=True, timeout=60)
    a, b = (decode(str(copy), SR, 600).samples for copy in copies)
    assert len(a) / SR == pytest.approx(len(b) / SR, abs=0.01)
    assert 20 * np.log10(rms(a) / rms(b)) == pytest.approx(0, abs=0.1)
    middle = slice(2 * SR, 7 * SR)
    lag = np.argmax(correlate(a[middle], b[middle], mode="full", method="fft")) - (5 * SR - 1)
    assert abs(lag) / SR < 0.01
    bodies = [upload(client, copy).get_json() for copy in copies]
    assert bodies[0]["analyzed_s"] == pytest.approx(bodies[1]["analyzed_s"], abs=0.01)
    assert [s["start_s"] for s in bodies[0]["segments"]] == [s["start_s"] for s in bodies[1]["segments"]]
    assert bodies[0]["features"]["rms"] == pytest.approx(bodies[1]["features"]["rms"], rel=0.02)

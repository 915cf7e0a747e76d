"""The feature function, the committed model and the CLI, on real decoded audio."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from genrelens.analysis.audio import decode
from conftest import ROOT, chord, write_audio
from genrelens.models.mfcc_cnn import ModelCard, load_predictor
from genrelens.analysis.pipeline import AnalysisError, FeatureSettings, GenreClassifier, fit_to_segment, mfcc_segments

SETTINGS = FeatureSettings()


def test_segments_have_the_models_shape_and_start_every_three_seconds():
    segments = mfcc_segments(chord(10), SETTINGS)
    assert segments.features.shape == (3, 130, SETTINGS.n_features)
    assert list(segments.start_s) == [0.0, 3.0, 6.0]
    assert not segments.silent.any()


def test_a_short_clip_is_looped_to_one_segment_and_a_tiny_one_refused():
    clip = chord(2.5)
    looped = fit_to_segment(clip, SETTINGS)
    assert len(looped) == SETTINGS.segment_samples
    assert np.array_equal(looped[: len(clip)], clip) and np.array_equal(looped[len(clip):], clip[: len(looped) - len(clip)])
    assert mfcc_segments(clip, SETTINGS).features.shape[0] == 1
    with pytest.raises(AnalysisError) as refused:
        fit_to_segment(chord(1.5), SETTINGS)
    assert refused.value.code == "too_short"


def test_decode_downmixes_and_resamples_in_one_pass(audio_dir):
    path = write_audio(audio_dir / "stereo48k.flac", chord(5), channels=2, out_sr=48000)
    audio = decode(str(path), 22050, max_seconds=600)
    assert audio.sample_rate == 22050 and audio.samples.ndim == 1
    assert audio.analyzed_s == pytest.approx(5, abs=0.01)
    rms = lambda x: float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))  # noqa: E731
    assert rms(audio.samples) == pytest.approx(rms(chord(5)), rel=0.03)  # same level after downmix


@pytest.fixture(scope="module")
def committed():
    return GenreClassifier(ROOT / "models")


def test_committed_model_gives_a_distribution_on_real_audio(committed, song_mp3):
    analysis, signal = committed.analyze_file(str(song_mp3))
    probabilities = [g["probability"] for g in analysis.genres]
    assert sum(probabilities) == pytest.approx(1, abs=2e-3)
    assert len(analysis.genres) == len(committed.genres) == 11 and "electronic" in committed.genres
    assert len(analysis.segments) == 6 and len(signal) == pytest.approx(20 * 22050, abs=2000)


def test_tflite_and_keras_agree_on_the_committed_model(song_mp3):
    model_dir = ROOT / "models"
    card = ModelCard.load(model_dir)
    audio = decode(str(song_mp3), 22050, 600)
    segments = mfcc_segments(audio.samples, FeatureSettings.from_dict(card.features)).features
    batch = np.concatenate([segments, segments[::-1] * 1.1, segments * 0.9] * 3)[:37]  # > 2 blocks, uneven
    lite = load_predictor(model_dir, card, backend="tflite")
    keras = load_predictor(model_dir, card, backend="keras")
    assert (lite.backend, keras.backend) == ("tflite", "keras")
    np.testing.assert_allclose(lite.predict(batch), keras.predict(batch), atol=1e-4)


def test_genre_mapping_matches_the_model_card():
    mapping = (ROOT / "genre_mapping.txt").read_text().split("\n")[:-1]
    assert mapping == ModelCard.load(ROOT / "models").genres


def test_cli_prints_json_per_file_and_reports_bad_ones(song_mp3, audio_dir):
    bad = audio_dir / "notes.mp3"
    bad.write_text("not audio")
    done = subprocess.run([sys.executable, str(ROOT / "music_genre_classifier.py"), str(song_mp3), str(bad), "--json"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 1
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert lines[0]["filename"] == str(song_mp3) and lines[0]["genre"] == lines[0]["genres"][0]["genre"]
    assert lines[1]["filename"] == str(bad) and "error" in lines[1]


def test_a_misspelt_backend_is_refused_not_taken_for_keras(monkeypatch):
    model_dir = ROOT / "models"
    card = ModelCard.load(model_dir)
    monkeypatch.setenv("GENRE_BACKEND", "tflight")
    with pytest.raises(ValueError, match="tflight.*auto, tflite, keras"):
        load_predictor(model_dir, card)
    monkeypatch.setenv("GENRE_BACKEND", "keras")
    assert load_predictor(model_dir, card).backend == "keras"


def test_the_stft_in_blocks_equals_one_stft_over_a_long_signal():
    """Past one 47-s block the blocked STFT must give exactly the frames of a single centred STFT."""
    import librosa

    from genrelens.analysis.pipeline import STFT_BLOCK_FRAMES, _magnitude_blocks

    signal = (chord(100.0) + 0.3 * np.random.default_rng(3).standard_normal(100 * 22050)).astype(np.float32)
    blocks = list(_magnitude_blocks(signal, SETTINGS))
    assert len(blocks) == 3 and blocks[0].shape[1] == STFT_BLOCK_FRAMES  # 100 s: two full blocks and a rest
    whole = np.abs(librosa.stft(signal, n_fft=SETTINGS.n_fft, hop_length=SETTINGS.hop_length, center=True,
                                pad_mode="constant", dtype=np.complex64))
    np.testing.assert_allclose(np.concatenate(blocks, axis=1), whole, rtol=1e-4, atol=1e-3)


def test_an_old_model_card_without_the_newer_feature_fields_reads_as_plain_mfccs():
    old = {"sample_rate": 22050, "n_mfcc": 13, "n_fft": 2048, "hop_length": 512, "segment_seconds": 3.0}
    settings = FeatureSettings.from_dict(old)
    assert (settings.n_mfcc, settings.deltas, settings.contrast_bands, settings.n_features) == (13, 0, 0, 13)
    assert mfcc_segments(chord(6.0), settings).features.shape == (2, 130, 13)


def test_ffmpeg_binary_takes_the_setting_then_the_system_then_the_wheel(monkeypatch, tmp_path):
    """The ffmpeg command line that makes files for the tests and training/reencode.py (decoding needs none)."""
    import imageio_ffmpeg

    from genrelens.analysis import audio

    chosen = tmp_path / "my-ffmpeg"
    chosen.symlink_to(audio.ffmpeg_binary())
    try:
        monkeypatch.setenv("FFMPEG_BINARY", str(chosen))
        audio.ffmpeg_binary.cache_clear()
        assert audio.ffmpeg_binary() == str(chosen)
        assert write_audio(tmp_path / "a.mp3", chord(3.0)).stat().st_size > 0  # conftest makes files with it
        monkeypatch.delenv("FFMPEG_BINARY")
        monkeypatch.setattr(audio, "which", lambda name: None)  # a machine without a system ffmpeg
        audio.ffmpeg_binary.cache_clear()
        assert audio.ffmpeg_binary() == imageio_ffmpeg.get_ffmpeg_exe()
    finally:
        monkeypatch.undo()
        audio.ffmpeg_binary.cache_clear()


def test_cli_plain_output_and_its_flags(song_mp3):
    """One line per file in plain mode; --model picks the model; --max-seconds caps what is analysed."""
    def run(*flags):
        return subprocess.run([sys.executable, str(ROOT / "music_genre_classifier.py"), str(song_mp3), *flags],
                              capture_output=True, text=True, timeout=180, cwd=ROOT)

    plain = run()
    assert plain.returncode == 0 and plain.stdout.count("\n") == 1
    assert plain.stdout.startswith(f"{song_mp3}: ") and "segments over 20.0 s" in plain.stdout and "tags: " in plain.stdout
    chosen = json.loads(run("--json", "--model", "mfcc_cnn").stdout)
    assert chosen["model"]["name"] == "mfcc_cnn" and len(chosen["tags"]) == 50
    capped = json.loads(run("--json", "--max-seconds", "9").stdout)
    assert capped["analyzed_s"] == pytest.approx(9, abs=0.05) and capped["capped"] is True

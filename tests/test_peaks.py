"""GET /analyses/<id>/peaks.json: the analysed signal's waveform peaks, which the page draws long files from."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import SR, chord, upload, write_audio
from genrelens.analysis.peaks import MAX_BINS, peaks


@pytest.fixture(scope="module")
def quiet_then_loud(audio_dir):
    """4 s of silence, then 6 s of a chord: a WAV at the service's own rate, so decoding keeps every sample."""
    signal = np.concatenate([np.zeros(4 * SR, np.float32), chord(6)])
    return signal, write_audio(audio_dir / "quiet then loud.wav", signal)


def test_peaks_follow_the_decoded_signal(client, quiet_then_loud):
    signal, path = quiet_then_loud
    body = upload(client, path).get_json()
    response = client.get(f"/analyses/{body['id']}/peaks.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    data = response.get_json()
    assert data["duration_s"] == pytest.approx(body["analyzed_s"], abs=1e-3) == pytest.approx(10.0, abs=1e-3)
    shown = np.array(data["peaks"])
    # each bin is the loudest sample of its run of the file (16-bit WAV, stored as float16)
    pcm = np.round(np.clip(signal, -1, 1) * 32767) / 32768
    step = -(-len(pcm) // MAX_BINS)
    expected = np.array([np.abs(pcm[i:i + step]).max() for i in range(0, len(pcm), step)])
    assert data["bins"] == len(data["peaks"]) == len(expected) > 0.95 * MAX_BINS
    assert np.allclose(shown, expected, atol=2e-3)
    assert shown[: int(0.39 * MAX_BINS)].max() == 0.0  # the silent first 4 s
    assert shown[int(0.41 * MAX_BINS):].min() > 0.02 and shown[int(0.41 * MAX_BINS):].max() > 0.5  # the chord


def test_peaks_of_an_unknown_or_malformed_id_are_a_json_404(client):
    for analysis_id in ("0123456789abcdef", "../../etc", "x" * 16):
        response = client.get(f"/analyses/{analysis_id}/peaks.json")
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "not_found"


def test_peaks_bins_are_bounded_and_cover_every_sample():
    ten_minutes = np.zeros(600 * SR, np.float32)
    ten_minutes[-1] = -0.75  # the very last sample lands in the last bin
    bins = peaks(ten_minutes)
    assert len(bins) <= MAX_BINS and bins[-1] == 0.75 and bins[:-1].max() == 0.0
    short = np.linspace(-1, 1, 101, dtype=np.float32)
    assert np.array_equal(peaks(short), np.abs(short))  # fewer samples than bins: one bin each
    assert peaks(np.zeros(0, np.float32)).size == 0

"""Random and mutated audio bytes through the decoder and the endpoint: no 500, no hang, no leftovers."""
from __future__ import annotations

import io

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from genrelens.analysis.audio import DecodeError, decode
from conftest import chord, write_audio

FUZZ = settings(max_examples=40, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(scope="module")
def seeds(audio_dir) -> list[bytes]:
    return [write_audio(audio_dir / f"seed{suffix}", chord(4, seed=7)).read_bytes() for suffix in (".mp3", ".wav", ".ogg", ".flac")]


def mutate(data: bytes, flips: list[tuple[int, int]], cut: int) -> bytes:
    buffer = bytearray(data[: max(1, len(data) - cut)])
    for position, value in flips:
        buffer[position % len(buffer)] = value
    return bytes(buffer)


# What the fuzzing reached, checked by the last test: it must have exercised both outcomes.
REACHED = {"decoded": 0, "refused": 0, "answered_200": 0, "answered_4xx": 0}

mutations = st.tuples(st.integers(0, 3), st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=40),
                      st.integers(0, 60000))


@FUZZ
@given(st.one_of(st.binary(max_size=4096), mutations))
def test_decoder_returns_audio_or_a_decode_error(tmp_path_factory, seeds, case):
    data = case if isinstance(case, bytes) else mutate(seeds[case[0]], case[1], case[2])
    path = tmp_path_factory.mktemp("fuzz") / "input"
    path.write_bytes(data)
    try:
        audio = decode(str(path), 22050, max_seconds=30, timeout_s=20)
    except DecodeError:
        REACHED["refused"] += 1
        return
    REACHED["decoded"] += 1
    assert audio.samples.ndim == 1 and audio.samples.dtype.name == "float32"
    assert abs(audio.samples).max() <= 1.0 and audio.analyzed_s <= 30


@FUZZ
@given(st.one_of(st.binary(max_size=4096), mutations))
def test_endpoint_answers_with_a_result_or_a_client_error(app, app_dir, seeds, case):
    data = case if isinstance(case, bytes) else mutate(seeds[case[0]], case[1], case[2])
    response = app.test_client().post("/file-upload", data={"file": (io.BytesIO(data), "fuzz.mp3")},
                                      content_type="multipart/form-data")
    assert response.status_code in (200, 400, 415, 422), response.get_data(as_text=True)
    assert response.is_json
    assert list((app_dir / "uploads").iterdir()) == []
    REACHED["answered_200" if response.status_code == 200 else "answered_4xx"] += 1


def test_the_fuzzing_reached_both_outcomes():
    """Mutations that all fail to decode (or all decode) would test one path only."""
    assert all(count > 0 for count in REACHED.values()), REACHED

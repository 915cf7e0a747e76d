"""Listening through the microphone (issue 13): the page records what is playing with MediaRecorder
and classifies it like an upload. Headless chromium's fake capture device plays a WAV made here into
the real page; the real API and model answer; the app's input is watched to see that it got WebM/Opus."""
from __future__ import annotations

import io
import re
import subprocess
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from genrelens.analysis.audio import ffmpeg_binary
from test_page import (
    _SKIP_REASON, assert_bars_match, browser_errors, chrome, get_json, make_music, serve_app, wait_for_result,
)

try:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait
except ImportError:  # pragma: no cover - test_page reports it
    pass

pytestmark = pytest.mark.skipif(_SKIP_REASON is not None, reason=_SKIP_REASON or "")


class UploadTap:
    """WSGI middleware in front of the app: keeps a copy of every upload's body, then passes it on."""

    def __init__(self):
        self.uploads: list[tuple[str, bytes]] = []

    def __call__(self, app):
        def tapped(environ, start_response):
            if environ.get("REQUEST_METHOD") == "POST" and environ.get("PATH_INFO") == "/file-upload":
                body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
                self.uploads.append((environ.get("CONTENT_TYPE", ""), body))
                environ["wsgi.input"] = io.BytesIO(body)
            return app(environ, start_response)
        return tapped

    def files(self) -> list:
        from werkzeug.formparser import parse_form_data

        parsed = []
        for content_type, body in self.uploads:
            environ = {"wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body)),
                       "CONTENT_TYPE": content_type, "REQUEST_METHOD": "POST"}
            _, _, files = parse_form_data(environ)
            sent = files["file"]
            parsed.append((sent.filename, sent.mimetype, sent.read()))
        return parsed


@pytest.fixture(scope="module")
def tap() -> UploadTap:
    return UploadTap()


@pytest.fixture(scope="module")
def server(tmp_path_factory, tap) -> Iterator[str]:
    with serve_app({"ANALYSIS_DIR": str(tmp_path_factory.mktemp("analyses"))}, wrap=tap) as base:
        yield base


@pytest.fixture(scope="module")
def room_sound(tmp_path_factory) -> Path:
    """What is playing in the room: music as a 48-kHz 16-bit WAV, which chromium's fake microphone plays in a loop."""
    samples = make_music(12.0, sr=48000, seed=21)
    path = tmp_path_factory.mktemp("room") / "room.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(48000)
        w.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def seconds_of(clock: str) -> int:
    minutes, seconds = clock.split(":")
    return 60 * int(minutes) + int(seconds)


def test_a_recording_from_the_microphone_is_classified(server, tap, room_sound, tmp_path):
    fake_microphone = ("--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                       f"--use-file-for-fake-audio-capture={room_sound}")
    with chrome(extra_args=fake_microphone) as driver:
        driver.get(f"{server}/")
        Select(driver.find_element(By.ID, "record-length")).select_by_value("10")
        record = driver.find_element(By.ID, "record-btn")
        record.click()
        panel = driver.find_element(By.ID, "recording")
        WebDriverWait(driver, 30).until(lambda d: panel.is_displayed())
        assert not record.is_enabled()

        # while it listens: a countdown and a level meter that moves with the music
        countdown, levels = [], []

        def listened(d) -> bool:
            hidden, left, level = d.execute_script(
                "return [document.getElementById('recording').hidden,"
                " document.getElementById('record-countdown').textContent,"
                " Number(document.getElementById('record-level').getAttribute('aria-valuenow'))];")
            if not hidden:
                countdown.append(seconds_of(left))
                levels.append(level)
            return hidden

        WebDriverWait(driver, 60, poll_frequency=0.2).until(listened)
        assert countdown == sorted(countdown, reverse=True), "the countdown goes down"
        assert countdown[0] >= 9 and countdown[-1] <= 2 and len(set(countdown)) >= 6, countdown
        assert max(levels) >= 30, f"the meter did not move with the music: {max(levels)}"

        analysis_id = wait_for_result(driver)
        assert record.is_enabled()

        # the API got one WebM/Opus recording
        [(filename, mimetype, data)] = tap.files()
        assert re.fullmatch(r"recording \d{4}-\d\d-\d\d \d\d\.\d\d\.\d\d\.webm", filename), filename
        assert mimetype == "audio/webm"
        assert data[:4] == b"\x1a\x45\xdf\xa3" and b"webm" in data[:64] and b"A_OPUS" in data[:4096]
        copy = tmp_path / "received.webm"
        copy.write_bytes(data)
        probe = subprocess.run([ffmpeg_binary(), "-hide_banner", "-i", str(copy)], capture_output=True, text=True, timeout=60)
        assert re.search(r"Audio: opus", probe.stderr), probe.stderr[-2000:]

        # and classified it like an upload: about ten seconds of it, shown in full
        status, result = get_json(f"{server}/analyses/{analysis_id}")
        assert status == 200 and result["filename"] == filename
        assert 8.5 <= result["analyzed_s"] <= 12.0, result["analyzed_s"]
        assert result["segments"]
        assert driver.find_element(By.ID, "result-filename").text == filename
        assert_bars_match(driver, result)
        waveform = driver.find_element(By.ID, "waveform")
        WebDriverWait(driver, 30).until(
            lambda d: waveform.get_attribute("data-region-count") == str(len(result["segments"])))
        assert browser_errors(driver) == []


def test_a_blocked_microphone_gets_a_clear_message(server):
    """A microphone is there (the fake device), but the page may not use it. (No microphone at all has its
    own message, unit-tested in tests/js/recorder.test.mjs: whether a machine has one is not ours to fix.)"""
    with chrome(extra_args=("--use-fake-device-for-media-stream",)) as driver:
        driver.get(f"{server}/")
        driver.execute_cdp_cmd("Browser.setPermission", {
            "origin": server, "permission": {"name": "microphone"}, "setting": "denied"})
        driver.find_element(By.ID, "record-btn").click()
        error = driver.find_element(By.ID, "error")
        WebDriverWait(driver, 30).until(lambda d: error.is_displayed())
        assert "Microphone access is blocked" in error.text
        assert "Allow this page to use the microphone" in error.text
        assert not driver.find_element(By.ID, "recording").is_displayed()
        assert driver.find_element(By.ID, "record-btn").is_enabled()
        assert not driver.find_element(By.ID, "status").is_displayed()  # nothing was uploaded
        assert browser_errors(driver) == []

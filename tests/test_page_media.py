"""The page with the files a new user brings (issue 13): videos and phone recordings, a 3-hour file,
a shared link, a phone, and the report card. Real headless chromium, the real app and model, audio
made here; helpers from test_page.py."""
from __future__ import annotations

import re
import subprocess
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from genrelens.analysis.audio import ffmpeg_binary
from test_page import (
    _SKIP_REASON, assert_bars_match, browser_errors, chrome, get_json, make_music, serve_app, server_store,
    stubbed_json, upload_in_page, wait_for_result, write_mp3,
)

try:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # pragma: no cover - test_page reports it
    pass

pytestmark = pytest.mark.skipif(_SKIP_REASON is not None, reason=_SKIP_REASON or "")
SR = 22050
CAP_S = 120  # the server analyses at most this much of a file here (the default is 600 s): a quicker test


def write_wav(path: Path, samples: np.ndarray, sr: int = SR) -> Path:
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes(pcm.tobytes())
    return path


def ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_binary(), "-nostdin", "-v", "error", "-y", *args], check=True, timeout=120)


def clock_seconds(text: str) -> int:
    """"3:00:09" -> 10809, "2:00" -> 120."""
    seconds = 0
    for part in text.split(":"):
        seconds = 60 * seconds + int(part)
    return seconds


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def analysis_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("analyses")


@pytest.fixture(scope="module")
def server(analysis_dir) -> Iterator[str]:
    with serve_app({"ANALYSIS_DIR": str(analysis_dir), "MAX_ANALYSIS_SECONDS": str(CAP_S)}) as base:
        yield base


@pytest.fixture(scope="module")
def browser():
    with chrome() as driver:
        yield driver


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="module")
def song(media_dir) -> Path:
    return write_mp3(media_dir / "short song.mp3", seconds=12.0)


@pytest.fixture(scope="module")
def three_hours(media_dir) -> Path:
    """A 3-hour MP3 (16 kbit/s, 22 MB): one minute of music, its frames repeated 180 times."""
    minute = write_wav(media_dir / "minute.wav", make_music(60.0, seed=3))
    frames = media_dir / "minute.mp3"
    ffmpeg("-i", str(minute), "-c:a", "libmp3lame", "-b:a", "16k", "-write_xing", "0", "-id3v2_version", "0", str(frames))
    path = media_dir / "three hours.mp3"
    path.write_bytes(frames.read_bytes() * 180)
    return path


SPY = (
    "window.__decodes = 0; window.__fetched = [];"
    " const decode = BaseAudioContext.prototype.decodeAudioData;"
    " BaseAudioContext.prototype.decodeAudioData = function (...args) { window.__decodes += 1; return decode.apply(this, args); };"
    " const realFetch = window.fetch.bind(window);"
    " window.fetch = (input, init) => {"
    "  window.__fetched.push(String(typeof input === 'string' ? input : input.url)); return realFetch(input, init); };"
)


def spy_on_page(driver) -> str:
    """From now on pages count the browser's audio decodes and list their fetches; returns the script id."""
    return driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": SPY})["identifier"]


def axis_labels(driver, container_id: str) -> list[dict]:
    return driver.execute_script(
        "const box = document.getElementById(arguments[0]).getBoundingClientRect();"
        "return [...document.querySelectorAll('#' + arguments[0] + ' .axis-tick')].map(t => {"
        " const r = t.getBoundingClientRect(); const range = document.createRange(); range.selectNodeContents(t);"
        " const text = range.getBoundingClientRect();"
        " return {label: t.textContent, left: text.left - box.left, right: text.right - box.left, box: box.width,"
        "  visible: r.width > 0 && getComputedStyle(t).visibility !== 'hidden'}; });",
        container_id,
    )


def assert_axis_readable(driver, container_id: str, duration_s: float) -> list[dict]:
    labels = axis_labels(driver, container_id)
    assert len(labels) >= 2, labels
    for a, b in zip(labels, labels[1:]):
        assert a["right"] + 4 <= b["left"], f"axis labels touch: {a['label']} / {b['label']}"
    for label in labels:
        assert label["visible"] and label["left"] >= 0 and label["right"] <= label["box"] + 0.5, label
        assert clock_seconds(label["label"]) <= duration_s + 0.5
    return labels


# ----------------------------------------------------------------------------- 1. videos and phone recordings


@pytest.mark.parametrize("kind", ["mp4", "3gp"])
def test_videos_and_phone_recordings_are_analysed(browser, server, media_dir, kind):
    """The page sends an MP4 video and a 3GP phone recording (a video stream beside the sound), as the API reads them."""
    sound = write_wav(media_dir / f"sound-{kind}.wav", make_music(12.0, seed=5))
    path = media_dir / f"clip.{kind}"
    video = ["-f", "lavfi", "-i", "color=c=navy:s=176x144:r=15:d=12"]
    codecs = ["-c:v", "mpeg4"] if kind == "mp4" else ["-c:v", "h263"]
    ffmpeg(*video, "-i", str(sound), *codecs, "-c:a", "aac", "-b:a", "48k", "-ar", "22050", "-shortest", str(path))

    browser.get(f"{server}/")
    accept = browser.find_element(By.ID, "file-input").get_attribute("accept").split(",")
    assert {"audio/*", "video/*", ".mp4", ".3gp"} <= set(accept)
    assert "MP4" in browser.find_element(By.ID, "dropzone-hint").text and "3GP" in browser.find_element(By.ID, "dropzone-hint").text
    upload_in_page(browser, path)
    analysis_id = wait_for_result(browser)  # fails on the page's "does not look like an audio file"
    status, data = get_json(f"{server}/analyses/{analysis_id}")
    assert status == 200 and data["filename"] == f"clip.{kind}"
    assert data["analyzed_s"] == pytest.approx(12.0, abs=0.2)
    assert_bars_match(browser, data)
    assert browser_errors(browser) == []


# ----------------------------------------------------------------------------- 2. a 3-hour file


def test_a_three_hour_file_is_drawn_from_server_peaks_and_says_what_was_analysed(browser, server, song, three_hours):
    script = spy_on_page(browser)
    try:
        # a short file: the browser decodes it itself (the spy sees that, so it would see a long one too)
        browser.get(f"{server}/")
        upload_in_page(browser, song)
        wait_for_result(browser)
        assert browser.execute_script("return window.__decodes") >= 1
        assert browser.find_element(By.ID, "waveform").get_attribute("data-source") == "decoded"
        assert not browser.find_element(By.ID, "player-note").is_displayed()

        browser.get(f"{server}/")
        upload_in_page(browser, three_hours)
        analysis_id = wait_for_result(browser)
        status, data = get_json(f"{server}/analyses/{analysis_id}")
        assert status == 200 and data["capped"] is True and data["analyzed_s"] == pytest.approx(CAP_S, abs=0.1)
        assert data["duration_s"] == pytest.approx(3 * 3600 + 10, abs=2)

        # not decoded in the browser: drawn from the server's peaks
        assert browser.execute_script("return window.__decodes") == 0
        fetched = browser.execute_script("return window.__fetched")
        assert any(url.endswith(f"/analyses/{analysis_id}/peaks.json") for url in fetched), fetched
        waveform = browser.find_element(By.ID, "waveform")
        assert waveform.get_attribute("data-source") == "server-peaks"
    finally:
        browser.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", {"identifier": script})

    # the header says plainly how much was analysed
    meta = browser.find_element(By.ID, "result-meta").text
    said = re.search(r"first (\d+:\d\d) of (\d+:\d\d:\d\d) analysed", meta)
    assert said, meta
    assert clock_seconds(said.group(1)) == int(data["analyzed_s"])
    assert clock_seconds(said.group(2)) == int(data["duration_s"])
    note = browser.find_element(By.ID, "player-note")
    assert note.is_displayed() and said.group(0) in note.text

    # the player spans what was analysed: one region per segment, the last one ending at the right edge
    n = len(data["segments"])
    WebDriverWait(browser, 30).until(lambda d: waveform.get_attribute("data-region-count") == str(n))
    assert waveform.get_attribute("aria-valuemax") == str(round(data["analyzed_s"]))
    assert clock_seconds(browser.find_element(By.ID, "time-total").text) == int(data["analyzed_s"])
    edges = browser.execute_script(
        "const host = document.querySelector('#waveform > div');"
        "const wrap = host.shadowRoot.querySelector('[part~=\"wrapper\"]') || host.shadowRoot.querySelector('.wrapper');"
        "const w = (wrap || host).getBoundingClientRect();"
        "const regions = [...host.shadowRoot.querySelectorAll('[part~=\"region\"]')].map(r => r.getBoundingClientRect());"
        "return {left: w.left, right: w.right, first: regions[0].left,"
        " last: Math.max(...regions.map(r => r.right))};")
    assert abs(edges["first"] - edges["left"]) <= 1.5 and abs(edges["last"] - edges["right"]) <= 1.5, edges

    # the time axis: readable labels over the analysed two minutes
    labels = assert_axis_readable(browser, "waveform-timeline", data["analyzed_s"])
    assert labels[0]["label"] == "0:00"

    # it plays (the media element streams the file; nothing was decoded up front)
    play = browser.find_element(By.ID, "play-btn")
    play.click()
    WebDriverWait(browser, 20).until(lambda d: d.find_element(By.ID, "time-current").text != "0:00")
    play.click()
    WebDriverWait(browser, 5).until(lambda d: play.get_attribute("aria-label") == "Play")

    # on a phone the axis thins out instead of piling up
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True})
    try:
        WebDriverWait(browser, 10).until(lambda d: len(axis_labels(d, "waveform-timeline")) < len(labels))
        assert_axis_readable(browser, "waveform-timeline", data["analyzed_s"])
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    assert browser_errors(browser) == []


# ----------------------------------------------------------------------------- 3. the shared-link view lines up


def test_the_shared_waveform_lines_up_with_the_segment_strip(browser, server, analysis_dir):
    """6 s of silence, then 6 s of music, two genres: where the waveform starts is where the second genre starts."""
    signal = np.concatenate([np.zeros(6 * SR, np.float32), make_music(6.0, seed=11)])
    segments = [{"start_s": float(t), "end_s": float(t + 3), "genre": "classical" if t < 6 else "metal", "probability": 0.8}
                for t in (0, 3, 6, 9)]
    genres = [{"genre": "metal", "probability": 0.5}, {"genre": "classical", "probability": 0.5}]
    result = {"filename": "half silent.mp3", "duration_s": 12.0, "analyzed_s": 12.0, "capped": False, "genre": "metal",
              "confidence": 0.5, "genres": genres, "segments": segments, "tags": [], "electronic": None,
              "features": {}, "model": {"name": "musicnn", "version": "test"}, "timing_ms": {}}
    store = server_store(analysis_dir, ttl_s=3600)
    analysis_id = store.attach(store.add(result, signal)[0], result["filename"], signal)

    for width in (1280, 390):
        if width < 500:
            browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                    {"width": width, "height": 844, "deviceScaleFactor": 2, "mobile": True})
        try:
            browser.get(f"{server}/?analysis={analysis_id}")
            assert wait_for_result(browser) == analysis_id
            geometry = browser.execute_script(
                "const canvas = document.getElementById('static-wave');"
                "const strip = document.getElementById('segment-strip');"
                "const c = canvas.getBoundingClientRect(), s = strip.getBoundingClientRect();"
                "const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;"
                "const drawn = [];"
                "for (let x = 0; x < canvas.width; x++) {"
                " let any = false; for (let y = 0; y < canvas.height && !any; y++) any = pixels[(y * canvas.width + x) * 4 + 3] > 0;"
                " if (any) drawn.push(x); }"
                "const metal = [...strip.querySelectorAll('.strip-segment')].find(e => e.dataset.genre === 'metal').getBoundingClientRect();"
                "return {canvas: [c.left, c.right], strip: [s.left, s.right], pixels: canvas.width,"
                " first: drawn[0], last: drawn[drawn.length - 1], metal: metal.left};")
            (c_left, c_right), (s_left, s_right) = geometry["canvas"], geometry["strip"]
            assert abs(c_left - s_left) <= 0.5 and abs(c_right - s_right) <= 0.5, geometry  # one box
            width_px = c_right - c_left
            sound_starts = c_left + geometry["first"] / geometry["pixels"] * width_px
            sound_ends = c_left + (geometry["last"] + 1) / geometry["pixels"] * width_px
            assert abs(sound_starts - geometry["metal"]) <= 0.01 * width_px, geometry  # the music starts with metal
            assert abs(sound_ends - s_right) <= 0.01 * width_px, geometry  # and runs to the strip's end
            assert_axis_readable(browser, "strip-axis", 12.0)
        finally:
            browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    assert browser_errors(browser) == []


# ----------------------------------------------------------------------------- 6. each report-card picture names its model


def captions(driver) -> list[dict]:
    return driver.execute_script(
        "return [...document.querySelectorAll('.metric-figure:not([hidden])')].map(f => {"
        " const tag = f.querySelector('figcaption .model-tag');"
        " return {src: f.querySelector('img').dataset.src, wants: f.dataset.model,"
        "  model: tag ? tag.dataset.model : null, text: tag ? tag.textContent.trim() : '',"
        "  shown: tag ? tag.getBoundingClientRect().width > 0 : false}; });")


def gallery_settled(driver) -> bool:
    return driver.execute_script(
        "return [...document.querySelectorAll('.metric-img')].every(i => i.complete)"
        " && document.querySelectorAll('.metric-figure .model-tag').length > 0;")


def test_each_report_card_picture_says_which_model_it_shows(browser, server):
    status, card = get_json(f"{server}/api/model")
    assert status == 200
    browser.get(f"{server}/")
    WebDriverWait(browser, 30).until(gallery_settled)
    shown = captions(browser)
    assert len(shown) == 10
    by_picture = {Path(c["src"]).name: c for c in shown}
    # the test-split and outside-collection pictures are drawn for the served default; the training curves and MFCC
    # pictures are the MFCC CNN's; the electronic ones musicnn's
    for picture in ("confusion_matrix.png", "classification_report.png", "roc_curves.png", "outside_confusion.png"):
        assert by_picture[picture]["model"] == card["name"]
    for picture in ("training_history.png", "mfcc_examples.png", "mfcc_mean.png", "mfcc_variance.png"):
        assert by_picture[picture]["model"] == "mfcc_cnn" and by_picture[picture]["text"] == "Model: MFCC CNN"
    for picture in ("generalisation.png", "style_confusion.png"):
        assert by_picture[picture]["model"] == "musicnn"
    assert all(c["shown"] and c["text"] for c in shown)
    labels = {c["model"]: c["text"] for c in shown}
    assert len(set(labels.values())) == len(labels) >= 2, "two models, told apart by name"

    # the default's pictures follow the card: a card naming the MFCC CNN as default relabels them
    with stubbed_json(browser, {"/api/model": {**card, "name": "mfcc_cnn"}}):
        browser.get(f"{server}/")
        WebDriverWait(browser, 30).until(gallery_settled)
    relabelled = {Path(c["src"]).name: c for c in captions(browser)}
    assert relabelled["confusion_matrix.png"]["model"] == "mfcc_cnn"
    assert relabelled["confusion_matrix.png"]["text"] == "Model: MFCC CNN"
    assert browser_errors(browser) == []


# ----------------------------------------------------------------------------- 7. the models table on a phone


def test_the_models_table_is_readable_on_a_390_px_phone(server):
    status, card = get_json(f"{server}/api/model")
    assert status == 200 and len(card["models"]) >= 2
    with chrome(width=390, height=844) as phone:
        phone.get(f"{server}/")
        table = phone.find_element(By.ID, "model-compare")
        WebDriverWait(phone, 30).until(lambda d: table.is_displayed())
        phone.execute_script("arguments[0].scrollIntoView({block: 'start', behavior: 'instant'})", table)
        layout = phone.execute_script(
            "const wrap = document.querySelector('#model-compare .table-responsive');"
            "const heads = [...document.querySelectorAll('#model-compare thead th')].map(th => th.textContent.trim());"
            "return {inner: document.documentElement.clientWidth, wrapScroll: wrap.scrollWidth, wrapWidth: wrap.clientWidth,"
            " pageScroll: document.documentElement.scrollWidth, heads,"
            " rows: [...document.querySelectorAll('#model-compare-rows tr')].map(tr => ({model: tr.dataset.model,"
            "  cells: [...tr.querySelectorAll('td')].map(td => { const r = td.getBoundingClientRect();"
            "   return {value: td.innerText.trim(), label: getComputedStyle(td, '::before').content,"
            "           left: r.left, right: r.right, width: r.width, height: r.height}; })}))};")
        assert layout["inner"] == 390
        assert layout["wrapScroll"] <= layout["wrapWidth"], "the table still scrolls sideways"
        assert layout["pageScroll"] <= layout["inner"]
        for row, model in zip(layout["rows"], card["models"]):
            assert row["model"] == model["name"]
            assert len(row["cells"]) == 4
            for cell, head in zip(row["cells"], layout["heads"][1:]):
                assert cell["label"] == f'"{head}"', "each value is named by its column"
                assert cell["width"] > 0 and cell["height"] > 0
                assert 0 <= cell["left"] and cell["right"] <= layout["inner"], cell
            test = model["metrics"].get("test", {})
            accuracy, f1 = row["cells"][2]["value"], row["cells"][3]["value"]
            assert abs(float(accuracy.split()[0].replace("\u00a0", "")) - 100 * test["track_accuracy"]) <= 0.05 + 1e-9
            assert abs(float(f1) - test["macro_f1"]) <= 0.005 + 1e-9
        assert browser_errors(phone) == []

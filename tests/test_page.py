"""The web page in a real browser: headless Debian chromium driven by selenium.

The app runs in-process (``create_app()`` served by werkzeug on a free port); the audio is made
here (numpy chords + drum-like noise bursts, encoded to MP3 with ffmpeg). Needs /usr/bin/chromium,
/usr/bin/chromedriver, ffmpeg, the selenium package and the vendored front-end files
(``make vendor``: npm ci && npm run vendor).

The helpers at the top are also used by scripts/screenshot.py.
"""
from __future__ import annotations

import base64
import functools
import http.server
import json
import os
import shutil
import subprocess
import tempfile
import threading
import urllib.error
import urllib.request
import uuid
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from genrelens.analysis.audio import ffmpeg_binary

try:
    from selenium import webdriver
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select, WebDriverWait
except ImportError:  # pragma: no cover - reported as a skip below
    webdriver = None

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER_BIN", "/usr/bin/chromedriver")
SAMPLE_RATE = 22050
RESULT_TIMEOUT_S = 120  # an analysis + decoding in the browser, on a busy CI box
RESULT_TTL_S = 3 * 86400  # the page server's: the page says "kept for 3 days"
VENDOR_FILES = [
    "static/vendor/bootstrap/bootstrap.min.css",
    "static/vendor/bootstrap/bootstrap.bundle.min.js",
    "static/vendor/wavesurfer/wavesurfer.esm.js",
    "static/vendor/wavesurfer/plugins/regions.esm.js",
]


def _missing_requirement() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is missing (apt-get install chromium chromium-driver) - browser tests skipped"
    if not Path(CHROMEDRIVER).exists():
        return f"{CHROMEDRIVER} is missing (apt-get install chromium-driver) - browser tests skipped"
    if webdriver is None:
        return "the selenium package is not installed (pip install -r requirements-dev.txt)"
    return None


_MISSING_VENDOR = [f for f in VENDOR_FILES if not (ROOT / f).exists()]
if _MISSING_VENDOR:  # a broken build everywhere, never a reason to skip
    pytest.fail(f"front-end vendor files missing ({_MISSING_VENDOR[0]}): run `make vendor`", pytrace=False)
_SKIP_REASON = _missing_requirement()
if _SKIP_REASON and os.environ.get("CI") == "true":  # CI installs the browser: missing means broken
    pytest.fail(f"CI=true but {_SKIP_REASON}", pytrace=False)
pytestmark = pytest.mark.skipif(_SKIP_REASON is not None, reason=_SKIP_REASON or "")


# ----------------------------------------------------------------------------- audio


def make_music(seconds: float = 12.0, sr: int = SAMPLE_RATE, seed: int = 7) -> np.ndarray:
    """A music-like mono signal: a chord progression with harmonics, bass, kick, snare and hats."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    y = np.zeros(n)
    bpm = 112.0
    beat = 60.0 / bpm
    chords = [(57, 60, 64), (53, 57, 60), (48, 52, 55), (55, 59, 62)]  # Am F C G (MIDI)
    bar = 4 * beat
    for i, start in enumerate(np.arange(0.0, seconds, bar)):
        a, b = int(start * sr), min(n, int((start + bar) * sr))
        tt = t[a:b] - start
        env = np.minimum(1.0, tt / 0.02) * np.exp(-tt * 0.6)
        for k, note in enumerate(chords[i % len(chords)]):
            f = 440.0 * 2 ** ((note - 69) / 12)
            for h, amp in ((1, 1.0), (2, 0.45), (3, 0.25), (4, 0.12)):
                y[a:b] += 0.06 * amp * env * np.sin(2 * np.pi * f * h * tt + k)
        root = 440.0 * 2 ** ((chords[i % len(chords)][0] - 12 - 69) / 12)
        y[a:b] += 0.12 * env * np.sin(2 * np.pi * root * tt)
    for j, start in enumerate(np.arange(0.0, seconds, beat / 2)):
        a = int(start * sr)
        if j % 2 == 0:  # kick on the beat: a falling sine
            m = min(n - a, int(0.25 * sr))
            tt = np.arange(m) / sr
            y[a:a + m] += 0.5 * np.exp(-tt * 18) * np.sin(2 * np.pi * (50 + 90 * np.exp(-tt * 30)) * tt)
        if j % 4 == 2:  # snare on 2 and 4: a noise burst
            m = min(n - a, int(0.18 * sr))
            y[a:a + m] += 0.25 * np.exp(-np.arange(m) / sr * 22) * rng.standard_normal(m)
        m = min(n - a, int(0.04 * sr))  # closed hi-hat on every eighth
        hat = rng.standard_normal(m)
        hat = np.diff(hat, prepend=0.0)  # crude high-pass
        y[a:a + m] += 0.05 * np.exp(-np.arange(m) / sr * 90) * hat
    return (0.9 * y / np.max(np.abs(y))).astype(np.float32)


def write_mp3(path: Path, seconds: float = 12.0, seed: int = 7) -> Path:
    """Encode make_music() to an MP3 at path (via a temporary WAV and ffmpeg)."""
    samples = make_music(seconds, seed=seed)
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2")
    wav_path = path.with_suffix(".wav")
    with wave.open(str(wav_path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(pcm.tobytes())
    subprocess.run(  # the service's own ffmpeg: the system's, or the imageio-ffmpeg wheel's
        [ffmpeg_binary(), "-nostdin", "-v", "error", "-y", "-i", str(wav_path), "-codec:a", "libmp3lame", "-b:a", "128k",
         str(path)],
        check=True,
    )
    wav_path.unlink()
    return path


# ----------------------------------------------------------------------------- server + browser


@contextmanager
def serve_app(env: dict[str, str] | None = None, wrap=None) -> Iterator[str]:
    """Run the real app (create_app) on a free 127.0.0.1 port in a thread; yield its base URL.
    ``wrap(wsgi_app)`` may return WSGI middleware put in front of the app (e.g. to see what it receives)."""
    from werkzeug.serving import make_server

    saved = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})
    try:
        from app import create_app

        app = create_app()
        if wrap is not None:
            app.wsgi_app = wrap(app.wsgi_app)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, name="page-test-server", daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_port}"
        finally:
            server.shutdown()
            thread.join(timeout=10)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# The one outside host the page loads from (the guide's artist photos): the tests never reach it, so
# the page is seen as it is offline, with initials in place of photos (test_page_faces.py).
PHOTO_HOST = "upload.wikimedia.org"
OFFLINE_PHOTOS = f"--host-resolver-rules=MAP {PHOTO_HOST} ~NOTFOUND"


@contextmanager
def chrome(width: int = 1280, height: int = 1600, extra_args: tuple[str, ...] = ()) -> Iterator[webdriver.Chrome]:
    """Headless chromium with a throw-away profile (and ``extra_args`` on its command line), with the
    photo host unreachable unless ``extra_args`` maps it somewhere itself."""
    profile = tempfile.mkdtemp(prefix="page-test-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-extensions", "--mute-audio", "--autoplay-policy=no-user-gesture-required",
        f"--window-size={width},{height}", f"--user-data-dir={profile}",
        *(() if any(a.startswith("--host-resolver-rules") for a in extra_args) else (OFFLINE_PHOTOS,)), *extra_args,
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        driver.set_page_load_timeout(60)
        if width < 500:  # headless windows are at least 500 px wide: emulate a phone screen instead
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
                "width": width, "height": height, "deviceScaleFactor": 2, "mobile": True})
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def post_file(base: str, path: Path, filename: str | None = None, model: str | None = None) -> tuple[int, dict]:
    """POST a file to /file-upload (?model=... if given) as multipart/form-data; return (status, JSON body)."""
    boundary = uuid.uuid4().hex
    name = filename or path.name
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
        f"Content-Type: application/octet-stream\r\n\r\n"
    ).encode() + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(
        f"{base}/file-upload" + (f"?model={model}" if model else ""), data=body, method="POST",
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}", "Accept": "application/json"},
    )
    return _open_json(request)


def get_json(url: str) -> tuple[int, dict]:
    return _open_json(urllib.request.Request(url, headers={"Accept": "application/json"}))


def _open_json(request: urllib.request.Request) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(request, timeout=RESULT_TIMEOUT_S) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def upload_in_page(driver, path: Path) -> None:
    """Give the page's file input a file, as a user choosing it in the picker would."""
    driver.find_element(By.ID, "file-input").send_keys(str(path))


def wait_for_result(driver, previous_id: str | None = None, timeout: float = RESULT_TIMEOUT_S) -> str:
    """Wait until a result (other than previous_id) is fully shown; return its analysis id."""

    def ready(d):
        state = d.execute_script(
            "const r = document.getElementById('result');"
            "return r.hidden ? null : [r.dataset.state, r.dataset.analysisId];"
        )
        error = d.find_element(By.ID, "error")
        if error.is_displayed():
            raise AssertionError(f"the page shows an error instead of a result: {error.text}")
        if state and state[0] == "ready" and state[1] and state[1] != previous_id:
            return state[1]
        return False

    return WebDriverWait(driver, timeout, poll_frequency=0.25).until(ready)


def wait_pictures_loaded(driver, selector: str = ".analysis-img", timeout: float = RESULT_TIMEOUT_S) -> list[dict]:
    script = (
        "return [...document.querySelectorAll(arguments[0])].map(i => "
        "({kind: i.dataset.kind || i.id, state: i.dataset.state || '', w: i.naturalWidth, complete: i.complete, src: i.src}));"
    )

    def loaded(d):
        imgs = d.execute_script(script, selector)
        failed = [i for i in imgs if i["state"] == "failed"]
        if failed:
            raise AssertionError(f"pictures failed to load: {failed}")
        return imgs if imgs and all(i["complete"] and i["w"] > 0 for i in imgs) else False

    return WebDriverWait(driver, timeout, poll_frequency=0.5).until(loaded)


def browser_errors(driver, expected: tuple[str, ...] = ()) -> list[str]:
    """SEVERE console entries since the last call, minus the favicon, the artist photos the offline
    browser cannot fetch (the page shows initials instead), and the failed requests a test provokes on
    purpose: ``expected`` names their URLs (e.g. ``"/file-upload"``). Any other 4xx, a missing script,
    style sheet or picture among them, is an error."""
    def provoked(message: str) -> bool:
        return "the server responded with a status of 4" in message and any(url in message for url in expected)

    return [
        entry["message"] for entry in driver.get_log("browser")
        if entry["level"] == "SEVERE" and "favicon.ico" not in entry["message"] and not provoked(entry["message"])
        and f"https://{PHOTO_HOST}/" not in entry["message"]
    ]


def server_store(analysis_dir: Path, ttl_s: float):
    """The store of a server started with ``ANALYSIS_DIR=analysis_dir`` (its database lives there)."""
    from genrelens.jobs.database import Database
    from genrelens.settings import database_url
    from genrelens.jobs.store import AnalysisStore

    return AnalysisStore(Database(database_url({"ANALYSIS_DIR": str(analysis_dir)})), max_bytes=1 << 30, ttl_s=ttl_s)


def store_result(analysis_dir: Path, result: dict, seconds: float = 6.0) -> str:
    """Put a hand-made analysis in the server's store (with a short made-up signal for its
    pictures), as an upload would; return its id for a shared link (/?analysis=<id>)."""
    store, signal = server_store(analysis_dir, ttl_s=7 * 24 * 3600), make_music(seconds)
    return store.attach(store.add(result, signal)[0], result["filename"], signal)


def made_up_result(probabilities: dict[str, float], electronic: object = ..., seconds: float = 6.0) -> dict:
    """A complete analysis in the shape the server stores, with the given genre probabilities and
    electronic block (None: musicnn off; ...: no such key, as in results from before the block)."""
    genres = sorted(({"genre": g, "probability": p} for g, p in probabilities.items()), key=lambda g: -g["probability"])
    top = genres[0]
    result = {
        "filename": "made up.mp3", "duration_s": seconds, "analyzed_s": seconds, "capped": False,
        "genre": top["genre"], "confidence": top["probability"], "genres": genres,
        "segments": [{"start_s": float(t), "end_s": float(t + 3), "genre": top["genre"], "probability": top["probability"]}
                     for t in range(0, int(seconds) - 2, 3)],
        "tags": [{"tag": "electronic", "probability": 0.7}, {"tag": "dance", "probability": 0.5}],
        "features": {"tempo_bpm": 124.0, "spectral_centroid_hz": 2100.0, "rms": 0.1, "zero_crossing_rate": 0.08},
        "model": {"name": "ensemble", "version": "test", "backend": "test", "tags_from": "musicnn"},
        "timing_ms": {"decode": 10.0, "features": 20.0, "inference": 30.0, "total": 60.0},
    }
    if electronic is not ...:
        result["electronic"] = electronic
    return result


# Shares of the 7 electronic styles and the nearest genres of Ishkur's guide, as the server sends them.
ELECTRONIC_BLOCK = {
    "styles": [{"style": s, "probability": p} for s, p in (
        ("House", 0.61), ("Techno", 0.2), ("Downtempo", 0.08), ("Trance", 0.05), ("Breakbeat", 0.03),
        ("Jungle", 0.02), ("Hardcore", 0.01))],
    "nearest": [
        {"genre": "deephouse", "name": "Deep House", "aka": "Jazz House", "decade": "90s", "style": "House",
         "artist": "LARRY HEARD", "title": "CAN YOU FEEL IT", "year": 1986, "similarity": 0.83},
        {"genre": "chicagohouse", "name": "Chicago House", "aka": "", "decade": "80s", "style": "House",
         "artist": "LARRY HEARD aka MR. FINGERS", "title": "WASHING MACHINE", "year": None, "similarity": 0.79},
        {"genre": "detroittechno", "name": "Detroit Techno", "aka": "", "decade": "80s", "style": "Techno",
         "artist": "DJ RUSH", "title": "MY PALMS", "year": 1995, "similarity": 0.712},
        {"genre": "acidhouse", "name": "Acid House", "aka": "Acid", "decade": "80s", "style": "House",
         "artist": "PHUTURE", "title": "ACID TRAX", "year": 1987, "similarity": 0.7},
        {"genre": "triphop", "name": "Trip Hop", "aka": "Bristol Sound", "decade": "90s", "style": "Downtempo",
         "artist": "Massive Attack", "title": "Teardrop", "year": 1998, "similarity": 0.65},
    ],
}
# What the page shows for each nearest entry: name (aka, decade), the track, the similarity.
ELECTRONIC_NEAREST_SHOWN = [
    ("Deep House (Jazz House, 90s)", "like Larry Heard – Can You Feel It (1986)", "83\u00a0% similar"),
    ("Chicago House (80s)", "like Larry Heard aka Mr. Fingers – Washing Machine", "79\u00a0% similar"),
    ("Detroit Techno (80s)", "like DJ Rush – My Palms (1995)", "71\u00a0% similar"),
    ("Acid House (Acid, 80s)", "like Phuture – Acid Trax (1987)", "70\u00a0% similar"),
    ("Trip Hop (Bristol Sound, 90s)", "like Massive Attack – Teardrop (1998)", "65\u00a0% similar"),
]
OTHER_GENRES = ["blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock"]


def genre_shares(**leading: float) -> dict[str, float]:
    """11 genre probabilities: the given ones, the rest shares the remainder evenly."""
    rest = [g for g in OTHER_GENRES + ["electronic"] if g not in leading]
    left = (1.0 - sum(leading.values())) / len(rest)
    return {**leading, **{g: round(left, 4) for g in rest}}


@contextmanager
def stubbed_json(driver, responses: dict[str, object]) -> Iterator[None]:
    """While inside, pages loaded in driver get these JSON bodies from fetch() for these paths
    (e.g. {"/api/model": {...}}); every other request goes to the server as usual."""
    source = (
        "(() => { const stubs = " + json.dumps(responses) + ";"
        " const realFetch = window.fetch.bind(window);"
        " window.fetch = (input, init) => {"
        "  const path = new URL(typeof input === 'string' ? input : input.url, location.href).pathname;"
        "  if (!Object.prototype.hasOwnProperty.call(stubs, path)) return realFetch(input, init);"
        "  return Promise.resolve(new Response(JSON.stringify(stubs[path]),"
        "   {status: 200, headers: {'Content-Type': 'application/json'}}));"
        " }; })();"
    )
    script = driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": source})
    try:
        yield
    finally:
        driver.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", {"identifier": script["identifier"]})


def css_rgb(hex_color: str) -> str:
    n = int(hex_color.lstrip("#"), 16)
    return f"rgb({n >> 16 & 255}, {n >> 8 & 255}, {n & 255})"


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def analysis_dir(tmp_path_factory) -> Path:
    """The server's analysis store: tests may put hand-made results there (see store_result)."""
    return tmp_path_factory.mktemp("analyses")


@pytest.fixture(scope="module")
def server(analysis_dir) -> Iterator[str]:
    # an analysis kept RESULT_TTL_S (not the default 30 days): the page must say the server's own setting
    with serve_app({"ANALYSIS_DIR": str(analysis_dir), "RESULT_TTL_S": str(RESULT_TTL_S)}) as base:
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    with chrome() as driver:
        yield driver


@pytest.fixture(autouse=True)
def _fresh_console(request):
    """Each test judges only the console messages of its own pages (the browser is shared)."""
    if "browser" in request.fixturenames:
        request.getfixturevalue("browser").get_log("browser")


@pytest.fixture(scope="module")
def song(tmp_path_factory) -> Path:
    return write_mp3(tmp_path_factory.mktemp("audio") / "test song.mp3", seconds=12.0)


@pytest.fixture(scope="module")
def genre_book() -> dict:
    return json.loads((ROOT / "genres.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def uploaded(browser, server, song) -> dict:
    """Upload the song through the page once; other tests look at that result."""
    browser.get(f"{server}/")
    upload_in_page(browser, song)
    analysis_id = wait_for_result(browser)
    status, data = get_json(f"{server}/analyses/{analysis_id}")
    assert status == 200, data
    return data


# ----------------------------------------------------------------------------- helpers for asserts


def percent_shows(text: str, probability: float) -> bool:
    """Does ``text`` show ``probability`` as a one-decimal percentage ("71.3 %")? Checked by reading the
    number back, within the rounding of its last digit: not by formatting it the page's way again."""
    import re

    shown = [float(number) for number in re.findall(r"(\d+\.\d)\s%", text)]
    return any(abs(value - probability * 100) <= 0.05 + 1e-9 for value in shown)


def shown_bars(driver) -> list[dict]:
    return driver.execute_script(
        "return [...document.querySelectorAll('#genre-bars .genre-row')].map(r => ({"
        " genre: r.dataset.genre, probability: parseFloat(r.dataset.probability),"
        " text: r.querySelector('.genre-pct').textContent.trim(),"
        " width: parseFloat(r.querySelector('.progress-bar').style.width)}));"
    )


def assert_bars_match(driver, data: dict) -> None:
    bars = shown_bars(driver)
    expected = sorted(data["genres"], key=lambda g: -g["probability"])
    assert len(bars) == len(expected) == len(data["genres"])
    assert [b["genre"] for b in bars] == [g["genre"] for g in expected]
    probs = [b["probability"] for b in bars]
    assert probs == sorted(probs, reverse=True), "bars are not sorted high to low"
    for bar, g in zip(bars, expected):
        assert percent_shows(bar["text"], g["probability"]) and bar["text"].endswith("%")
        assert bar["width"] == pytest.approx(g["probability"] * 100, abs=0.01)


def assert_tags_match(driver, data: dict, shown: int = 8) -> None:
    """The strongest style tags of the analysis are shown as pills, strongest first."""
    assert data.get("tags"), "the analysis has no style tags: is musicnn off on the server (models/musicnn_*)?"
    assert driver.find_element(By.ID, "tags-block").is_displayed()
    pills = driver.execute_script(
        "return [...document.querySelectorAll('#style-tags li')].map(li => ({"
        " tag: li.dataset.tag, probability: parseFloat(li.dataset.probability), text: li.textContent.trim()}));"
    )
    expected = sorted(data["tags"], key=lambda t: -t["probability"])[:shown]
    assert [p["tag"] for p in pills] == [t["tag"] for t in expected]
    for pill, tag in zip(pills, expected):
        assert pill["probability"] == pytest.approx(tag["probability"])
        name, _, percent = pill["text"].rpartition(" ")
        assert name == tag["tag"] and percent.endswith("%")
        assert abs(float(percent[:-1]) - tag["probability"] * 100) <= 0.5 + 1e-9


# ----------------------------------------------------------------------------- tests


def test_upload_shows_full_result(browser, server, song, uploaded, genre_book):
    data = uploaded
    assert f"analysis={data['id']}" in browser.current_url, "the URL is not the shareable link"
    assert browser.find_element(By.ID, "share-url").get_attribute("value").endswith(f"analysis={data['id']}")

    # headline + bars
    top = data["genre"]
    assert browser.find_element(By.ID, "top-genre").text == genre_book[top]["name"]
    assert percent_shows(browser.find_element(By.ID, "top-confidence").text, data["confidence"])
    assert_bars_match(browser, data)
    assert_tags_match(browser, data)

    # the same file posted directly gives the same numbers (the page sent the file intact)
    status, direct = post_file(server, song, model=data["model"]["name"])
    assert status == 200, direct
    direct_probs = {g["genre"]: g["probability"] for g in direct["genres"]}
    for bar in shown_bars(browser):
        assert bar["probability"] == pytest.approx(direct_probs[bar["genre"]], abs=1e-4)

    # the timeline: one region per segment, drawn inside wavesurfer's shadow root
    n_segments = len(data["segments"])
    assert n_segments > 0
    WebDriverWait(browser, 30).until(
        lambda d: d.find_element(By.ID, "waveform").get_attribute("data-region-count") == str(n_segments))
    in_shadow = browser.execute_script(
        "const host = document.querySelector('#waveform > div');"
        "return host && host.shadowRoot ? host.shadowRoot.querySelectorAll('[part~=\"region\"]').length : -1;")
    assert in_shadow == n_segments
    legend = browser.find_elements(By.CSS_SELECTOR, "#legend .legend-item")
    assert {li.get_attribute("data-genre") for li in legend} == {s["genre"] for s in data["segments"]}
    assert browser.find_element(By.ID, "player").is_displayed()
    assert not browser.find_element(By.ID, "static-timeline").is_displayed()

    # play/pause and seeking by keyboard
    play = browser.find_element(By.ID, "play-btn")
    assert play.is_enabled()
    waveform = browser.find_element(By.ID, "waveform")
    browser.execute_script("arguments[0].focus()", waveform)
    waveform.send_keys(Keys.ARROW_RIGHT)
    WebDriverWait(browser, 5).until(lambda d: d.find_element(By.ID, "time-current").text == "0:05")
    assert waveform.get_attribute("aria-valuenow") == "5"
    waveform.send_keys(Keys.HOME)
    WebDriverWait(browser, 5).until(lambda d: d.find_element(By.ID, "time-current").text == "0:00")

    # click-to-seek: a click three quarters along the waveform (on a region) jumps there
    browser.execute_script("arguments[0].scrollIntoView({block: 'center', behavior: 'instant'})", waveform)
    ActionChains(browser).move_to_element_with_offset(waveform, int(waveform.size["width"] * 0.25), 0).click().perform()
    expected_s = 0.75 * data["duration_s"]
    WebDriverWait(browser, 5).until(
        lambda d: abs(float(waveform.get_attribute("aria-valuenow")) - expected_s) <= 1.5)

    # play / pause by keyboard on the button
    play.send_keys(Keys.ENTER)
    WebDriverWait(browser, 5).until(lambda d: play.get_attribute("aria-label") == "Pause")
    play.send_keys(Keys.SPACE)
    WebDriverWait(browser, 5).until(lambda d: play.get_attribute("aria-label") == "Play")

    # the four pictures load (the server draws them on first request)
    imgs = wait_pictures_loaded(browser)
    assert sorted(i["kind"] for i in imgs) == sorted(["waveform", "spectrogram", "mel_spectrogram", "mfcc"])
    for i in imgs:
        assert i["src"].endswith(data["images"][i["kind"]])

    # the genre guide for the leading genres, starting with the top one
    cards = browser.find_elements(By.CSS_SELECTOR, "#genre-guide .genre-card")
    assert 1 <= len(cards) <= 3
    assert cards[0].get_attribute("data-genre") == top
    assert genre_book[top]["description"] in cards[0].text
    links = cards[0].find_elements(By.CSS_SELECTOR, "a.artist-link")
    assert [a.get_attribute("href") for a in links] == [a["url"] for a in genre_book[top]["artists"]]

    # features, duration and timing
    features = browser.find_element(By.ID, "features").text
    assert "BPM" in features and "Processing time" in features and "Audio analysed" in features

    assert browser_errors(browser) == []


def test_invalid_file_shows_error_in_place_and_page_stays_usable(browser, server, song, uploaded, tmp_path):
    fake = tmp_path / "not really.mp3"
    fake.write_text("This is a text file wearing an .mp3 costume.\n" * 50)
    status, body = post_file(server, fake)
    assert status in (400, 415, 422), body
    expected_message = body["error"]["message"]

    browser.get(f"{server}/")
    upload_in_page(browser, fake)
    error = browser.find_element(By.ID, "error")
    WebDriverWait(browser, RESULT_TIMEOUT_S).until(lambda d: error.is_displayed())
    assert expected_message in error.text
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018 - no alert() box may be open
    assert not browser.find_element(By.ID, "status").is_displayed()

    # a valid file right after works, and the error goes away
    upload_in_page(browser, song)
    new_id = wait_for_result(browser)
    assert not error.is_displayed()
    assert new_id != uploaded["id"]
    status, data = get_json(f"{server}/analyses/{new_id}")
    assert status == 200
    assert_bars_match(browser, data)
    assert browser_errors(browser, expected=("/file-upload",)) == []


def test_dropping_a_file_analyses_it(browser, server, song):
    browser.get(f"{server}/")
    payload = base64.b64encode(song.read_bytes()).decode()
    browser.execute_script(
        "const bytes = Uint8Array.from(atob(arguments[0]), c => c.charCodeAt(0));"
        "const dt = new DataTransfer();"
        "dt.items.add(new File([bytes], 'dropped song.mp3', {type: 'audio/mpeg'}));"
        "const zone = document.getElementById('dropzone');"
        "for (const type of ['dragenter', 'dragover', 'drop'])"
        "  zone.dispatchEvent(new DragEvent(type, {dataTransfer: dt, bubbles: true, cancelable: true}));",
        payload,
    )
    analysis_id = wait_for_result(browser)
    assert browser.find_element(By.ID, "result-filename").text == "dropped song.mp3"
    status, data = get_json(f"{server}/analyses/{analysis_id}")
    assert status == 200 and data["filename"] == "dropped song.mp3"
    assert_bars_match(browser, data)


def test_browser_checks_type_before_uploading(browser, server):
    browser.get(f"{server}/")
    with tempfile.TemporaryDirectory() as tmp:
        notes = Path(tmp) / "notes.txt"
        notes.write_text("hello")
        upload_in_page(browser, notes)
        error = browser.find_element(By.ID, "error")
        WebDriverWait(browser, 10).until(lambda d: error.is_displayed())
    assert "does not look like an audio file" in error.text
    assert not browser.find_element(By.ID, "status").is_displayed()


def test_shared_link_restores_the_result(browser, server, uploaded):
    data = uploaded
    browser.get(f"{server}/?analysis={data['id']}")
    assert wait_for_result(browser) == data["id"]
    assert_bars_match(browser, data)
    # no local file: the player is hidden, the server's waveform + a segment strip stand in
    assert not browser.find_element(By.ID, "player").is_displayed()
    assert browser.find_element(By.ID, "static-timeline").is_displayed()
    strip = browser.find_elements(By.CSS_SELECTOR, "#segment-strip .strip-segment")
    assert len(strip) == len(data["segments"])
    assert [s.get_attribute("data-genre") for s in strip] == [s["genre"] for s in data["segments"]]
    wait_pictures_loaded(browser, ".analysis-img")
    assert browser.find_element(By.ID, "static-wave").get_attribute("data-drawn") == "true"
    cards = browser.find_elements(By.CSS_SELECTOR, "#genre-guide .genre-card")
    assert cards[0].get_attribute("data-genre") == data["genre"]
    assert_tags_match(browser, data)
    assert browser_errors(browser) == []


def test_unknown_analysis_link_shows_error(browser, server):
    browser.get(f"{server}/?analysis=0000000000000000")
    error = browser.find_element(By.ID, "error")
    WebDriverWait(browser, 30).until(lambda d: error.is_displayed())
    status, body = get_json(f"{server}/analyses/0000000000000000")
    assert status == 404
    assert body["error"]["message"] in error.text
    assert "Shared results are kept for 3 days;" in error.text  # RESULT_TTL_S, in the page's words
    assert browser.find_element(By.ID, "result").get_attribute("hidden") is not None
    assert browser_errors(browser, expected=("/analyses/0000000000000000",)) == []


def test_model_section(browser, server):
    browser.get(f"{server}/")
    stats = browser.find_element(By.ID, "model-stats")
    WebDriverWait(browser, 30).until(lambda d: stats.text.strip() != "")
    status, card = get_json(f"{server}/api/model")
    assert status == 200
    track_acc = card["metrics"]["test"]["track_accuracy"]
    assert percent_shows(stats.text, track_acc)

    def gallery_settled(d):
        return d.execute_script(
            "return [...document.querySelectorAll('.metric-img')].every(i => i.complete)"
            " && [...document.querySelectorAll('.metric-figure')].every(f => f.hidden || f.querySelector('img').naturalWidth > 0);")

    WebDriverWait(browser, 30).until(gallery_settled)
    shown = browser.execute_script(
        "return [...document.querySelectorAll('.metric-figure:not([hidden]) img')].map(i => i.naturalWidth);")
    figures = len(browser.find_elements(By.CSS_SELECTOR, ".metric-figure"))
    assert len(shown) == figures > 0, "every committed report-card picture is shown"
    assert all(w > 0 for w in shown), "a report-card picture is shown broken"


def test_model_choice_is_sent_with_the_upload(browser, server, song):
    status, card = get_json(f"{server}/api/model")
    assert status == 200, card
    models = card["models"]
    assert len(models) > 1, "only one model is served: is musicnn off on the server (models/musicnn_*)?"
    default = next(m["name"] for m in models if m["default"])
    assert default == card["name"]

    browser.get(f"{server}/")
    choice = browser.find_element(By.ID, "model-choice")
    WebDriverWait(browser, 30).until(lambda d: choice.is_displayed())
    select = Select(browser.find_element(By.ID, "model-select"))
    values = [o.get_attribute("value") for o in select.options]
    assert values[0] == default, "the default model is not listed first"
    assert sorted(values) == sorted(m["name"] for m in models)
    assert select.first_selected_option.get_attribute("value") == default
    assert "(default)" in select.first_selected_option.text

    other = next(m for m in models if not m["default"])["name"]
    select.select_by_value(other)
    upload_in_page(browser, song)
    analysis_id = wait_for_result(browser)
    status, data = get_json(f"{server}/analyses/{analysis_id}")
    assert status == 200, data
    assert data["model"]["name"] == other
    assert_bars_match(browser, data)
    line = browser.find_element(By.ID, "features-model").text
    label = next(o.text for o in select.options if o.get_attribute("value") == other)
    assert line.startswith(f"Classified by {label} ({other}, version ")
    tags_from = data["model"]["tags_from"]  # the tags come from musicnn or its student, whichever model answers
    assert tags_from in ("musicnn", "student")
    assert ("style tags from" in line) == (tags_from != other)

    # the same file posted directly with that model gives the same numbers
    status, direct = post_file(server, song, model=other)
    assert status == 200, direct
    assert direct["model"]["name"] == other
    direct_probs = {g["genre"]: g["probability"] for g in direct["genres"]}
    for bar in shown_bars(browser):
        assert bar["probability"] == pytest.approx(direct_probs[bar["genre"]], abs=1e-4)
    assert browser_errors(browser) == []


def test_model_comparison_table(browser, server):
    status, card = get_json(f"{server}/api/model")
    assert status == 200, card
    browser.get(f"{server}/")
    table = browser.find_element(By.ID, "model-compare")
    WebDriverWait(browser, 30).until(lambda d: table.is_displayed())
    rows = browser.find_elements(By.CSS_SELECTOR, "#model-compare-rows tr")
    assert [r.get_attribute("data-model") for r in rows] == [m["name"] for m in card["models"]]

    for row, model in zip(rows, card["models"]):
        cells = [td.text for td in row.find_elements(By.TAG_NAME, "td")]
        m = model["metrics"]
        assert len(cells) == 4
        assert percent_shows(cells[0], m["valid"]["track_accuracy"]) and percent_shows(cells[2], m["test"]["track_accuracy"])
        assert abs(float(cells[1]) - m["valid"]["macro_f1"]) <= 0.005 + 1e-9  # F1 with two decimals
        assert abs(float(cells[3]) - m["test"]["macro_f1"]) <= 0.005 + 1e-9
        marked = bool(row.find_elements(By.CSS_SELECTOR, ".default-badge"))
        assert marked == model["default"]
    assert browser_errors(browser) == []


def shown_styles(driver) -> list[dict]:
    return driver.execute_script(
        "return [...document.querySelectorAll('#electronic-styles .genre-row')].map(r => ({"
        " style: r.dataset.style, probability: parseFloat(r.dataset.probability),"
        " name: r.querySelector('.genre-name').textContent.trim(),"
        " text: r.querySelector('.genre-pct').textContent.trim(),"
        " label: r.querySelector('[role=progressbar]').getAttribute('aria-label'),"
        " width: parseFloat(r.querySelector('.progress-bar').style.width),"
        " color: r.querySelector('.progress-bar').style.backgroundColor}));"
    )


def shown_nearest(driver) -> list[dict]:
    return driver.execute_script(
        "return [...document.querySelectorAll('#electronic-nearest > li')].map(li => ({"
        " genre: li.dataset.genre, name: li.querySelector('.nearest-name').textContent.trim(),"
        " track: (li.querySelector('.nearest-track > span:last-child') || {textContent: ''}).textContent.trim(),"
        " similarity: li.querySelector('.nearest-sim').textContent.trim()}));"
    )


def test_a_drum_machine_upload_opens_the_electronic_styles_card(browser, server, tmp_path):
    """End to end with the real model: a generated kick-and-hat pattern, uploaded through the page, is
    heard as electronic, and the card shows the styles and nearest genres the API answered."""
    from conftest import four_on_the_floor, write_audio

    track = write_audio(tmp_path / "drum machine.mp3", four_on_the_floor(12.0))
    browser.get(f"{server}/")
    upload_in_page(browser, track)
    analysis_id = wait_for_result(browser)
    status, data = get_json(f"{server}/analyses/{analysis_id}")
    assert status == 200 and data["genre"] == "electronic", data["genres"][:3]
    card = browser.find_element(By.ID, "electronic")
    WebDriverWait(browser, 30).until(lambda d: card.is_displayed())
    assert [s["style"] for s in shown_styles(browser)] == [s["style"] for s in data["electronic"]["styles"]]
    assert [n["genre"] for n in shown_nearest(browser)] == [n["genre"] for n in data["electronic"]["nearest"]]
    assert browser_errors(browser) == []


def test_electronic_styles_card_when_electronic_leads(browser, server, analysis_dir, genre_book):
    result = made_up_result(genre_shares(electronic=0.58, disco=0.2, pop=0.1), ELECTRONIC_BLOCK)
    analysis_id = store_result(analysis_dir, result)
    browser.get(f"{server}/?analysis={analysis_id}")
    assert wait_for_result(browser) == analysis_id
    card = browser.find_element(By.ID, "electronic")
    assert card.is_displayed()
    assert card.find_element(By.ID, "electronic-title").text == "Electronic styles"

    # the 7 styles as bars, high to low, coloured as genres.json says
    book_styles = genre_book["electronic"]["styles"]
    styles = shown_styles(browser)
    assert [s["style"] for s in styles] == [s["style"] for s in ELECTRONIC_BLOCK["styles"]]
    assert len(styles) == 7
    for shown, given in zip(styles, ELECTRONIC_BLOCK["styles"]):
        name = book_styles.get(given["style"], {}).get("name", given["style"])
        assert shown["name"] == shown["label"] == name
        assert percent_shows(shown["text"], given["probability"])
        assert shown["width"] == pytest.approx(given["probability"] * 100, abs=0.01)
        assert shown["color"] == css_rgb(book_styles[given["style"]]["color"])

    # the top style described, its artists linked; the guide linked
    about = browser.find_element(By.ID, "electronic-about")
    guide = browser.find_element(By.ID, "electronic-guide")
    house = book_styles["House"]  # genres.json describes every style (the case without: the next tests)
    assert about.is_displayed()
    assert house["description"] in about.text
    links = about.find_elements(By.CSS_SELECTOR, "a.artist-link")
    assert [a.get_attribute("href") for a in links] == [a["url"] for a in house["artists"]]
    book_guide = genre_book["electronic"]["guide"]
    link = guide.find_element(By.TAG_NAME, "a")
    assert link.get_attribute("href") == book_guide["url"]
    assert book_guide["name"] in link.text

    # the nearest genres of the guide: name (aka, decade), the track in title case, the similarity
    nearest = shown_nearest(browser)
    assert [n["genre"] for n in nearest] == [n["genre"] for n in ELECTRONIC_BLOCK["nearest"]]
    assert [(n["name"], n["track"], n["similarity"]) for n in nearest] == ELECTRONIC_NEAREST_SHOWN
    assert browser.find_element(By.ID, "electronic-nearest-title").text == "Closest genres in Ishkur's guide"
    assert browser.find_element(By.ID, "electronic-nearest").get_attribute("aria-labelledby") == "electronic-nearest-title"

    # the rest of the result is there as usual, for 11 genres
    assert_bars_match(browser, {**result, "id": analysis_id})
    assert browser.find_element(By.ID, "top-genre").text == genre_book.get("electronic", {}).get("name", "Electronic")
    assert browser_errors(browser) == []


@pytest.mark.parametrize(("shares", "electronic", "shown"), [
    ({"electronic": 0.25, "rock": 0.4}, ELECTRONIC_BLOCK, True),  # second, with more than 15%
    ({"electronic": 0.15, "rock": 0.3, "pop": 0.2}, ELECTRONIC_BLOCK, True),  # third, exactly 15%
    ({"electronic": 0.12, "rock": 0.5, "pop": 0.2}, ELECTRONIC_BLOCK, False),  # third, under 15%
    ({"electronic": 0.16, "rock": 0.3, "pop": 0.2, "disco": 0.18}, ELECTRONIC_BLOCK, False),  # fourth
    ({"rock": 0.6, "pop": 0.2}, ELECTRONIC_BLOCK, False),  # not leading at all
    ({"electronic": 0.7}, None, False),  # leads, but musicnn was off: no block
    ({"electronic": 0.7}, ..., False),  # leads, but a result from before the block
], ids=["second", "third-at-15", "third-under-15", "fourth", "rock", "block-null", "block-absent"])
def test_electronic_styles_card_only_when_electronic_leads(browser, server, analysis_dir, shares, electronic, shown):
    analysis_id = store_result(analysis_dir, made_up_result(genre_shares(**shares), electronic))
    browser.get(f"{server}/?analysis={analysis_id}")
    assert wait_for_result(browser) == analysis_id
    assert browser.find_element(By.ID, "electronic").is_displayed() == shown
    assert len(shown_styles(browser)) == (7 if shown else 0)
    assert len(shown_nearest(browser)) == (5 if shown else 0)
    assert browser_errors(browser) == []


def test_electronic_styles_card_without_a_style_guide(browser, server, analysis_dir, genre_book):
    """genres.json without the electronic entry: the card still shows, with fallback colours and names."""
    book = {k: v for k, v in genre_book.items() if k != "electronic"}
    analysis_id = store_result(analysis_dir, made_up_result(genre_shares(electronic=0.5), ELECTRONIC_BLOCK))
    with stubbed_json(browser, {"/api/genres": book}):
        browser.get(f"{server}/?analysis={analysis_id}")
        assert wait_for_result(browser) == analysis_id
    assert browser.find_element(By.ID, "electronic").is_displayed()
    styles = shown_styles(browser)
    assert [s["name"] for s in styles] == [s["style"] for s in ELECTRONIC_BLOCK["styles"]]
    assert len({s["color"] for s in styles}) == 7, "the fallback colours tell the styles apart"
    assert not browser.find_element(By.ID, "electronic-about").is_displayed()
    assert not browser.find_element(By.ID, "electronic-guide").is_displayed()
    assert [n["name"] for n in shown_nearest(browser)] == [n[0] for n in ELECTRONIC_NEAREST_SHOWN]
    assert browser_errors(browser) == []


GENERALISATION_FIGURES = {
    "electronic": {"recall_test": 0.93, "tracks_test": 120, "false_positive_rate_test": 0.03,
                   "non_electronic_tracks_test": 179, "reencoded_gtzan_called_electronic": 0.02},
    "styles": {"test": {"track_accuracy": 0.74, "macro_f1": 0.7, "tracks": 130}},
    "cross_source": {"unseen_style_called_electronic": 0.9, "hiphop_other_source": {"share": 0.8, "tracks": 13},
                     "disco_other_source": {"share": 0.5, "tracks": 2},
                     "rock_family_other_source": {"share": 0.6, "tracks": 13}},
    "test_gtzan10": {"track_accuracy": 0.8, "tracks": 179},
    "outside_dev": {"rock": {"share": 0.85, "right": 55, "tracks": 65}, "classical": {"share": 0.95, "right": 43, "tracks": 45}},
}


def shown_figures(driver) -> list[dict]:
    return driver.execute_script(
        "return [...document.querySelectorAll('#model-electronic-list .figure-row')].map(r => ({"
        " figure: r.dataset.figure, label: r.querySelector('dt').textContent.trim(),"
        " value: r.querySelector('.figure-value').textContent.trim(),"
        " note: (r.querySelector('.figure-note') || {textContent: ''}).textContent.trim()}));"
    )


def test_model_section_shows_electronic_figures(browser, server):
    status, card = get_json(f"{server}/api/model")
    assert status == 200, card
    # as served: the card is there exactly when the default model's metrics have such figures
    browser.get(f"{server}/")
    WebDriverWait(browser, 30).until(lambda d: d.find_element(By.ID, "model-stats").text.strip() != "")
    has_figures = any(k in (card.get("metrics") or {}) for k in GENERALISATION_FIGURES)
    assert browser.find_element(By.ID, "model-electronic").is_displayed() == has_figures
    if card["name"] == "musicnn":  # the committed card has every figure, in the shape the page reads
        assert len(shown_figures(browser)) == 9 + len(card["metrics"]["outside_dev"])

    # every figure, hand-fed
    fed = {**card, "metrics": {**(card.get("metrics") or {}), **GENERALISATION_FIGURES}}
    with stubbed_json(browser, {"/api/model": fed}):
        browser.get(f"{server}/")
        block = browser.find_element(By.ID, "model-electronic")
        WebDriverWait(browser, 30).until(lambda d: block.is_displayed())
    assert block.find_element(By.TAG_NAME, "h3").text == "Electronic music and generalisation"
    figures = shown_figures(browser)
    assert [(f["figure"], f["value"]) for f in figures] == [
        ("electronic.recall_test", "93.0\u00a0%"),
        ("electronic.false_positive_rate_test", "3.0\u00a0%"),
        ("electronic.reencoded_gtzan_called_electronic", "2.0\u00a0%"),
        ("styles.test.track_accuracy", "74.0\u00a0%"),
        ("cross_source.unseen_style_called_electronic", "90.0\u00a0%"),
        ("cross_source.hiphop_other_source.share", "80.0\u00a0%"),
        ("cross_source.disco_other_source.share", "50.0\u00a0%"),
        ("cross_source.rock_family_other_source.share", "60.0\u00a0%"),
        ("test_gtzan10.track_accuracy", "80.0\u00a0%"),
        ("outside_dev.classical.share", "95.0\u00a0%"),
        ("outside_dev.rock.share", "85.0\u00a0%"),
    ]
    by_key = {f["figure"]: f for f in figures}
    assert by_key["electronic.recall_test"]["label"] == "Electronic tracks called electronic (artist-disjoint test)"
    assert by_key["electronic.recall_test"]["note"] == "120 tracks"
    assert by_key["electronic.false_positive_rate_test"]["label"] == "Non-electronic test tracks called electronic"
    assert by_key["electronic.false_positive_rate_test"]["note"] == "179 tracks · lower is better"
    assert by_key["styles.test.track_accuracy"]["label"] == "Electronic style accuracy (7 styles, artist-disjoint test)"
    assert by_key["styles.test.track_accuracy"]["note"] == "130 tracks · macro-F1 0.70"
    assert by_key["test_gtzan10.track_accuracy"]["label"] == "The 10 GTZAN genres (test tracks)"
    assert by_key["outside_dev.rock.share"]["label"] == "Alternative and indie rock from another collection, called rock"
    assert by_key["outside_dev.rock.share"]["note"] == "65 tracks · used to choose the model, so a little optimistic"
    assert all(f["label"] for f in figures)
    # the usual tiles are still there
    track_acc = (card.get("metrics") or {}).get("test", {}).get("track_accuracy")
    assert percent_shows(browser.find_element(By.ID, "model-stats").text, track_acc)
    assert browser_errors(browser) == []

    # only some figures: the others are left out, not shown empty
    some = {"electronic": {"recall_test": 0.5}, "test_gtzan10": {"track_accuracy": 0.81}}
    fed = {**card, "metrics": {**{k: v for k, v in (card.get("metrics") or {}).items()
                                  if k not in GENERALISATION_FIGURES}, **some}}
    with stubbed_json(browser, {"/api/model": fed}):
        browser.get(f"{server}/")
        block = browser.find_element(By.ID, "model-electronic")
        WebDriverWait(browser, 30).until(lambda d: block.is_displayed())
    assert [(f["figure"], f["value"], f["note"]) for f in shown_figures(browser)] == [
        ("electronic.recall_test", "50.0\u00a0%", ""), ("test_gtzan10.track_accuracy", "81.0\u00a0%", "")]

    # none: no card
    fed = {**card, "metrics": {k: v for k, v in (card.get("metrics") or {}).items() if k not in GENERALISATION_FIGURES}}
    with stubbed_json(browser, {"/api/model": fed}):
        browser.get(f"{server}/")
        WebDriverWait(browser, 30).until(lambda d: d.find_element(By.ID, "model-stats").text.strip() != "")
    assert not browser.find_element(By.ID, "model-electronic").is_displayed()
    assert shown_figures(browser) == []
    assert browser_errors(browser) == []


def test_phone_width_has_no_horizontal_scroll(server, song):
    with chrome(width=375, height=812) as phone:
        phone.get(f"{server}/")
        upload_in_page(phone, song)
        wait_for_result(phone)
        overflow = phone.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth;")
        assert overflow <= 0, f"the page is {overflow}px wider than a phone screen"
        assert phone.find_element(By.ID, "play-btn").is_displayed()
        assert browser_errors(phone) == []


def test_static_client_works_from_another_origin(song, tmp_path):
    """The page saved as a static file on another origin talks to the API through ?api= and CORS."""

    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    site = tmp_path / "site"
    site.mkdir()
    (site / "static").symlink_to(ROOT / "static")
    web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(site)))
    web_origin = f"http://127.0.0.1:{web.server_port}"
    threading.Thread(target=web.serve_forever, daemon=True).start()
    try:
        env = {"CORS_ORIGINS": web_origin, "ANALYSIS_DIR": str(tmp_path / "analyses")}
        with serve_app(env) as api, chrome() as driver:
            with urllib.request.urlopen(f"{api}/") as response:
                page = response.read().decode()
            # the copy is configured for its API, as a deployer would: ?api= may name it
            (site / "index.html").write_text(page.replace('<meta name="api-origins" content="">',
                                                          f'<meta name="api-origins" content="{api}">'))
            driver.get(f"{web_origin}/index.html?api={api}")
            upload_in_page(driver, song)
            analysis_id = wait_for_result(driver)
            imgs = wait_pictures_loaded(driver)
            assert all(i["src"].startswith(f"{api}/analyses/{analysis_id}/") for i in imgs)
            assert driver.current_url.startswith(f"{web_origin}/index.html?analysis={analysis_id}&api=")
            status, data = get_json(f"{api}/analyses/{analysis_id}")
            assert status == 200, data
            assert_bars_match(driver, data)
            # the shared link keeps pointing at the API
            driver.get(driver.current_url)
            assert wait_for_result(driver) == analysis_id
            assert browser_errors(driver) == []
    finally:
        web.shutdown()


def test_a_missing_file_is_a_browser_error_unless_a_test_provoked_it(browser, server):
    """The console check catches a 404 on a script, style sheet or picture; only named URLs are excused."""
    browser.get(f"{server}/static/js/no-such-module.js")
    errors = browser_errors(browser)
    assert any("no-such-module.js" in e and "404" in e for e in errors), errors
    browser.get(f"{server}/static/js/no-such-module.js")
    assert browser_errors(browser, expected=("/static/js/no-such-module.js",)) == []


def test_a_crafted_api_link_cannot_send_uploads_elsewhere(browser, server):
    """?api= naming an origin the page was not configured for is ignored: uploads stay with the page's API."""
    api_base = "return import('/static/js/api.js').then(m => m.API_BASE)"
    browser.get(f"{server}/?api=https://collector.invalid")
    WebDriverWait(browser, 30).until(lambda d: d.find_element(By.ID, "model-stats").text.strip() != "")
    assert browser.execute_script(api_base) == ""
    warnings = [e["message"] for e in browser.get_log("browser") if "Ignoring ?api=" in e["message"]]
    assert warnings, "the page says why it ignored the link"
    browser.get(f"{server}/?api={server}/")  # its own origin is always fine
    assert browser.execute_script(api_base) == server


def test_cancelling_a_shared_link_load_stops_its_request(browser, server):
    """The shared analysis is fetched with an abort signal; Cancel aborts the request, not just the view."""
    hang = (
        "window.__load = 'pending';"
        " const realFetch = window.fetch.bind(window);"
        " window.fetch = (input, init) => {"
        "  const url = String(typeof input === 'string' ? input : input.url);"
        "  if (!url.includes('/analyses/')) return realFetch(input, init);"
        "  if (!init || !init.signal) { window.__load = 'no signal'; return new Promise(() => {}); }"
        "  return new Promise((_, reject) => init.signal.addEventListener('abort', () => {"
        "   window.__load = 'aborted'; reject(new DOMException('aborted', 'AbortError')); }));"
        " };"
    )
    script = browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": hang})
    try:
        browser.get(f"{server}/?analysis=0123456789abcdef")
        cancel = browser.find_element(By.ID, "cancel-btn")
        WebDriverWait(browser, 30).until(lambda d: cancel.is_displayed())
        cancel.click()
        WebDriverWait(browser, 10).until(lambda d: d.execute_script("return window.__load") != "pending")
        assert browser.execute_script("return window.__load") == "aborted"
        assert not browser.find_element(By.ID, "status").is_displayed()
        assert not browser.find_element(By.ID, "error").is_displayed()
        assert browser_errors(browser) == []
    finally:
        browser.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", {"identifier": script["identifier"]})

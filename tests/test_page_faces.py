"""Faces and portraits on the page (issue 22), in real headless chromium against the real app.

Offline (the photo host unreachable, as in every page test) each artist shows initials in the genre's
colour and never a broken image; with a stand-in photo host (a local HTTPS server the browser is pointed
at under Commons' own name, so the page's Content-Security-Policy is what lets it through) the photo
replaces the initials. Each genre and the top electronic style show their portrait. Helpers from
test_page.py."""
from __future__ import annotations

import http.server
import io
import json
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from PIL import Image

from test_page import (
    _SKIP_REASON, ELECTRONIC_BLOCK, PHOTO_HOST, browser_errors, chrome, css_rgb, genre_shares, made_up_result,
    serve_app, store_result, wait_for_result,
)

try:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # pragma: no cover - test_page reports it
    pass

pytestmark = pytest.mark.skipif(_SKIP_REASON is not None, reason=_SKIP_REASON or "")
ROOT = Path(__file__).resolve().parent.parent
FACES = (
    "return [...document.querySelectorAll(arguments[0] + ' li.artist')].map(li => {"
    " const face = li.querySelector('.artist-face'), img = face.querySelector('img'),"
    "  letters = face.querySelector('.artist-initials'), credit = li.querySelector('.photo-credit');"
    " return {name: li.querySelector('.artist-name').textContent.replace(/ \\(Wikipedia.*$/, ''),"
    "  state: face.dataset.state, initials: letters.textContent,"
    "  initialsShown: getComputedStyle(letters).visibility === 'visible',"
    "  background: getComputedStyle(face).backgroundColor,"
    "  img: img ? {shown: !img.hidden && img.offsetWidth > 0, width: img.naturalWidth, src: img.src} : null,"
    "  credit: credit ? {text: credit.textContent, links: [...credit.querySelectorAll('a')].map(a => a.href),"
    "   opacity: getComputedStyle(credit).opacity} : null}; });"
)
PORTRAITS = (
    "return [...document.querySelectorAll('img.genre-portrait')].filter(i => i.offsetParent !== null)"
    ".map(i => ({slug: i.dataset.portrait, where: i.closest('[data-genre]')?.dataset.genre"
    " || i.closest('#top-portrait, #electronic-about')?.id, width: i.naturalWidth, complete: i.complete}));"
)


def book() -> dict:
    return json.loads((ROOT / "genres.json").read_text(encoding="utf-8"))


def faces_settled(driver, selector: str) -> list[dict]:
    """The faces under ``selector`` once none is still waiting for its photo."""
    def settled(d):
        faces = d.execute_script(FACES, selector)
        return faces if faces and all(f["state"] != "loading" for f in faces) else False

    return WebDriverWait(driver, 30, poll_frequency=0.25).until(settled)


def portraits_loaded(driver) -> list[dict]:
    def loaded(d):
        shown = d.execute_script(PORTRAITS)
        return shown if shown and all(p["complete"] and p["width"] == 256 for p in shown) else False

    return WebDriverWait(driver, 30, poll_frequency=0.25).until(loaded)


@pytest.fixture(scope="module")
def analysis_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("analyses")


@pytest.fixture(scope="module")
def server(analysis_dir) -> Iterator[str]:
    with serve_app({"ANALYSIS_DIR": str(analysis_dir)}) as base:
        yield base


@pytest.fixture(scope="module")
def blues_leads(analysis_dir) -> str:
    """A stored analysis: blues first, electronic (House first among its styles) second, jazz third."""
    return store_result(analysis_dir, made_up_result(genre_shares(blues=0.5, electronic=0.3, jazz=0.1),
                                                     ELECTRONIC_BLOCK))


def test_offline_every_artist_shows_initials_in_the_genre_colour(server, blues_leads):
    guide = book()
    with chrome() as driver:  # the photo host does not resolve: the page as it is offline
        driver.get(f"{server}/?analysis={blues_leads}")
        assert wait_for_result(driver) == blues_leads
        faces = faces_settled(driver, '#genre-guide [data-genre="blues"]')
        artists = guide["blues"]["artists"]
        assert [f["name"] for f in faces] == [a["name"] for a in artists]
        for face, artist in zip(faces, artists):
            assert face["img"] is None, f"{artist['name']}: an image element left behind"
            assert face["initialsShown"] and face["background"] == css_rgb(guide["blues"]["color"])
            assert face["state"] == ("failed" if "photo" in artist else "none")
        assert [f["initials"] for f in faces] == ["RJ", "MW", "HW", "BK", "EJ"]

        # a photo that could not load keeps its credit; artists without one are named
        muddy = next(f for f in faces if f["name"] == "Muddy Waters")
        photo = next(a for a in artists if a["name"] == "Muddy Waters")["photo"]
        assert muddy["credit"]["links"] == [photo["page"], photo["license_url"]]
        assert photo["author"] in muddy["credit"]["text"] and photo["license"] in muddy["credit"]["text"]
        note = driver.find_element(By.CSS_SELECTOR, '#genre-guide [data-genre="blues"] .photo-note').text
        assert note == "No freely licensed photo found for Robert Johnson and Howlin' Wolf: initials stand in."
        assert not driver.find_elements(By.CSS_SELECTOR, "img:not([hidden])[src^='https://upload.wikimedia.org']")

        # the electronic styles card: the top style's artists in the style's colour
        style_faces = faces_settled(driver, "#electronic-about")
        assert {f["background"] for f in style_faces} == {css_rgb(guide["electronic"]["styles"]["House"]["color"])}
        assert browser_errors(driver) == []


def test_the_credit_shows_on_hover_and_focus(server, blues_leads):
    with chrome() as driver:
        driver.get(f"{server}/?analysis={blues_leads}")
        wait_for_result(driver)
        faces_settled(driver, '#genre-guide [data-genre="blues"]')
        item = driver.find_element(By.CSS_SELECTOR, '#genre-guide [data-genre="blues"] li.artist[data-photo="commons"]')
        credit = item.find_element(By.CSS_SELECTOR, ".photo-credit")
        assert credit.value_of_css_property("opacity") == "0"
        driver.execute_script("arguments[0].scrollIntoView({block: 'center', behavior: 'instant'})", item)
        ActionChains(driver).move_to_element(item.find_element(By.CSS_SELECTOR, ".artist-face")).perform()
        WebDriverWait(driver, 5).until(lambda d: credit.value_of_css_property("opacity") == "1")
        assert credit.is_displayed() and credit.text.startswith("Photo: Chess Records")
        ActionChains(driver).move_to_element(driver.find_element(By.ID, "result-title")).perform()
        WebDriverWait(driver, 5).until(lambda d: credit.value_of_css_property("opacity") == "0")
        driver.execute_script("arguments[0].focus()", item.find_element(By.CSS_SELECTOR, "a.artist-link"))
        WebDriverWait(driver, 5).until(lambda d: credit.value_of_css_property("opacity") == "1")


def test_every_leading_genre_and_the_top_style_show_their_portrait(server, blues_leads):
    with chrome() as driver:
        driver.get(f"{server}/?analysis={blues_leads}")
        wait_for_result(driver)
        shown = portraits_loaded(driver)
        assert {(p["where"], p["slug"]) for p in shown} == {
            ("top-portrait", "blues"), ("blues", "blues"), ("electronic", "electronic"), ("jazz", "jazz"),
            ("electronic-about", "house")}
        top = driver.find_element(By.CSS_SELECTOR, "#top-portrait img")
        assert top.get_attribute("src").endswith("/static/images/genres/blues.png")
        assert "drawn from its training music" in top.get_attribute("alt")
        assert browser_errors(driver) == []


# ----------------------------------------------------------------------------- a stand-in photo host


@contextmanager
def photo_host(tmp_path: Path) -> Iterator[int]:
    """An HTTPS server on 127.0.0.1 (self-signed for PHOTO_HOST) answering every thumbnail address
    with a 120-px red PNG; yields its port."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                    f"/CN={PHOTO_HOST}", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    picture = io.BytesIO()
    Image.new("RGB", (120, 120), (200, 30, 30)).save(picture, format="PNG")
    body = picture.getvalue()

    class Thumbs(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the stdlib's name
            ok = self.path.startswith("/wikipedia/commons/thumb/")
            self.send_response(200 if ok else 404)
            self.send_header("Content-Type", "image/png" if ok else "text/plain")
            self.send_header("Content-Length", str(len(body) if ok else 0))
            self.end_headers()
            if ok:
                self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Thumbs)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is needed for the stand-in photo host")
def test_a_photo_that_loads_takes_the_place_of_the_initials(server, blues_leads, tmp_path):
    with photo_host(tmp_path) as port, chrome(extra_args=(
            f"--host-resolver-rules=MAP {PHOTO_HOST} 127.0.0.1:{port}", "--ignore-certificate-errors")) as driver:
        driver.get(f"{server}/?analysis={blues_leads}")
        wait_for_result(driver)
        faces = {f["name"]: f for f in faces_settled(driver, '#genre-guide [data-genre="blues"]')}
        for name in ("Muddy Waters", "Etta James"):
            assert faces[name]["state"] == "photo"
            assert faces[name]["img"]["shown"] and faces[name]["img"]["width"] == 120
            assert faces[name]["img"]["src"].startswith(f"https://{PHOTO_HOST}/wikipedia/commons/thumb/")
            assert not faces[name]["initialsShown"]
        assert faces["Robert Johnson"]["state"] == "none" and faces["Robert Johnson"]["initialsShown"]
        assert browser_errors(driver) == []

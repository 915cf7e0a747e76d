"""The batch at a glance on the page (issue 23): the chart of genres and styles filters the table, the
playlists download, and "more like this" lists a row's nearest files, each opening its playable result.
Real headless chromium against the real server as the Procfile starts it, audio made here."""
from __future__ import annotations

import urllib.request
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from conftest import piano, write_audio
from test_explore import drum_loop
from test_page import _SKIP_REASON, browser_errors, chrome, get_json, wait_for_result
from test_page_jobs import drop_files, jobs_in_address, live_server, rows, wait_rows_finished

try:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # pragma: no cover - test_page reports it
    pass

pytestmark = pytest.mark.skipif(_SKIP_REASON is not None, reason=_SKIP_REASON or "")

VISIBLE_ROWS = ("return [...document.querySelectorAll('#batch-table .batch-row')].filter(r => !r.hidden)"
                ".map(r => r.querySelector('.batch-name').textContent);")


@pytest.fixture(scope="module")
def glance(tmp_path_factory):
    """Two soft piano pieces and two noisy drum loops dropped on the page as one batch."""
    folder = tmp_path_factory.mktemp("glance-media")
    paths = [write_audio(folder / "soft one.mp3", piano(8, seed=31)), write_audio(folder / "soft two.mp3", piano(8, seed=32)),
             write_audio(folder / "drums one.mp3", drum_loop(8, seed=33)),
             write_audio(folder / "drums two.mp3", drum_loop(8, seed=34))]
    with live_server(tmp_path_factory.mktemp("glance-live")) as base, chrome() as driver:
        driver.get(f"{base}/")
        drop_files(driver, paths)
        wait_rows_finished(driver, 4)
        ids = jobs_in_address(driver)
        status, job = get_json(f"{base}/jobs/{ids[0]}")
        assert status == 200 and job["status"] == "done" and job["done"] == 4, job
        WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#batch-glance .glance-bar"))
        yield {"driver": driver, "base": base, "job": job}


def test_the_chart_shows_the_batch_and_a_bar_filters_the_table(glance):
    driver, job = glance["driver"], glance["job"]
    bars = driver.execute_script(
        "return [...document.querySelectorAll('#batch-glance .glance-bar')].map(b => ({kind: b.dataset.kind,"
        " value: b.dataset.value, count: Number(b.querySelector('.glance-count').textContent),"
        " pressed: b.getAttribute('aria-pressed')}));")
    genres = {f["genre"] for f in job["files"]}
    assert {b["value"] for b in bars if b["kind"] == "genre"} == genres
    assert sum(b["count"] for b in bars if b["kind"] == "genre") == 4
    assert {(b["value"], b["count"]) for b in bars if b["kind"] == "style"} == \
        {(s["style"], s["count"]) for s in job["summary"]["styles"]}
    assert all(b["pressed"] == "false" for b in bars)
    everyone = sorted(f["filename"] for f in job["files"])
    for bar in bars:
        button = driver.find_element(By.CSS_SELECTOR, f"#batch-glance .glance-bar[data-kind='{bar['kind']}']"
                                                      f"[data-value='{bar['value']}']")
        button.click()
        if bar["kind"] == "genre":
            expected = sorted(f["filename"] for f in job["files"] if f["genre"] == bar["value"])
        else:
            expected = sorted(f["filename"] for f in job["files"]
                              if f["genre"] == "electronic" and (f["style"] or {}).get("style") == bar["value"])
        assert sorted(driver.execute_script(VISIBLE_ROWS)) == expected, bar
        pressed = driver.find_element(By.CSS_SELECTOR, f"#batch-glance .glance-bar[data-kind='{bar['kind']}']"
                                                       f"[data-value='{bar['value']}']")
        assert pressed.get_attribute("aria-pressed") == "true"
        pressed.click()  # pressed again: every file shows
        assert sorted(driver.execute_script(VISIBLE_ROWS)) == everyone
    assert browser_errors(driver) == []


def test_the_playlists_download_one_per_genre_style_and_frequent_tag(glance):
    driver, job = glance["driver"], glance["job"]
    links = driver.find_elements(By.CSS_SELECTOR, "#batch-playlists a.batch-playlist")
    asked = []
    for link in links:
        assert link.get_attribute("download") is not None
        href = link.get_attribute("href")
        query = parse_qs(urlparse(href).query)
        assert urlparse(href).path == f"/jobs/{job['id']}/playlist.m3u8"
        with urllib.request.urlopen(href, timeout=30) as response:
            text = response.read().decode("utf-8")
        assert text.startswith("#EXTM3U\n")
        kind, value = next(iter(query.items()))
        asked.append((kind, value[0]))
        if kind == "genre":
            assert sorted(text.splitlines()[2::2]) == sorted(f["filename"] for f in job["files"] if f["genre"] == value[0])
        if kind == "tag":
            count = next(t["count"] for t in job["summary"]["tags"] if t["tag"] == value[0])
            assert len(text.splitlines()[2::2]) == count
    assert sorted(asked) == sorted([("genre", g["genre"]) for g in job["summary"]["genres"]] +
                                   [("style", s["style"]) for s in job["summary"]["styles"]] +
                                   [("tag", t["tag"]) for t in job["summary"]["tags"][:5]])


def test_more_like_this_lists_the_same_kind_and_opens_a_playable_result(glance):
    driver, job = glance["driver"], glance["job"]
    names = [r["name"] for r in rows(driver)]
    soft = names.index("soft one.mp3")
    row = driver.find_elements(By.CSS_SELECTOR, "#batch-table .batch-row")[soft]
    button = row.find_element(By.CSS_SELECTOR, ".batch-like")
    assert button.is_displayed() and button.get_attribute("aria-expanded") == "false"
    button.click()
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".batch-like-row .batch-like-open"))
    listed = [b.text for b in driver.find_elements(By.CSS_SELECTOR, ".batch-like-row .batch-like-open")]
    assert listed[0] == "soft two.mp3" and len(listed) == 3 and "soft one.mp3" not in listed
    assert button.get_attribute("aria-expanded") == "true"
    driver.find_elements(By.CSS_SELECTOR, ".batch-like-row .batch-like-open")[0].click()
    other = next(f for f in job["files"] if f["filename"] == "soft two.mp3")
    assert wait_for_result(driver) == other["analysis_id"]
    assert driver.find_element(By.ID, "result-filename").text == "soft two.mp3"
    assert driver.find_element(By.ID, "player").is_displayed()  # the dropped file itself plays
    driver.execute_script("arguments[0].focus()", button)  # the page is scrolling to the result: by keyboard
    button.send_keys("\n")  # closes the list
    assert driver.find_elements(By.CSS_SELECTOR, ".batch-like-row") == []
    assert browser_errors(driver) == []

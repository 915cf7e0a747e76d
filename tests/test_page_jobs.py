"""The page's batch mode (issue 14): several files, or a folder, sent as one job and followed in a
queue table. Real headless chromium against the real server as the Procfile starts it (gunicorn,
with its embedded pool of job workers), audio made here; helpers from test_page.py and
test_live_server.py."""
from __future__ import annotations

import base64
import csv
import io
import json
import os
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from conftest import ROOT
from test_live_server import free_port, procfile_command, request, wait_until_serving
from test_page import _SKIP_REASON, browser_errors, chrome, get_json, percent_shows, wait_for_result, write_mp3

try:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # pragma: no cover - test_page reports it
    pass

pytestmark = pytest.mark.skipif(_SKIP_REASON is not None, reason=_SKIP_REASON or "")
JOB_TIMEOUT_S = 240  # three short songs through one worker on a busy 2-core box
RETRY_AFTER_S = 2
QUEUE_LIMIT = 4  # files waiting at most: a fifth is refused with 503 queue_full (the last test)
JOB_TTL_S = 36 * 3600  # a finished job is kept this long (not the default 7 days): the page says "36 hours"

ROWS = (
    "return [...document.querySelectorAll('#batch-table .batch-row')].map(r => ({"
    " state: r.dataset.state, name: r.querySelector('.batch-name').textContent,"
    " text: r.querySelector('.batch-state').textContent, genre: r.querySelector('.batch-genre').textContent,"
    " now: r.querySelector('[role=progressbar]').getAttribute('aria-valuenow'),"
    " width: r.querySelector('.progress-bar').style.width,"
    " bar: r.querySelector('.progress-bar').className}));"
)
# Every state a row of the table goes through, as the page shows it (data-state), in order.
WATCH_STATES = (
    "window.__seen = [];"
    "new MutationObserver((changes) => { for (const c of changes) if (c.target.dataset?.state"
    " && window.__seen.at(-1) !== c.target.dataset.state) window.__seen.push(c.target.dataset.state); })"
    ".observe(document.body, {subtree: true, attributes: true, attributeFilter: ['data-state']});"
)


# ----------------------------------------------------------------------------- fixtures


@contextmanager
def live_server(tmp: Path, **settings: str) -> Iterator[str]:
    """gunicorn as the Procfile starts it (one web worker, to spare the CPU) and the job pool it
    starts, with these settings; yields its base URL."""
    (tmp / "uploads").mkdir(parents=True, exist_ok=True)
    port = free_port()
    command = procfile_command(port)
    command[command.index("--workers") + 1] = "1"
    env = {k: v for k, v in os.environ.items() if k not in ("BROKER_URL", "DATABASE_URL")} | {
        "ANALYSIS_DIR": str(tmp / "store"), "UPLOAD_DIR": str(tmp / "uploads"), "JOB_WORKERS": "1",
        "MUSICNN_THREADS": "1", **settings,
    }
    log_path = tmp / "server.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until_serving(process, log_path, lambda: request(port, "GET", "/healthz")[0] == 200, timeout_s=180)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=90)  # gunicorn stops its job pool on the way out
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[str]:
    with live_server(tmp_path_factory.mktemp("jobs-live"), JOB_QUEUE_LIMIT=str(QUEUE_LIMIT),
                     JOB_RETRY_AFTER_S=str(RETRY_AFTER_S), JOB_TTL_S=str(JOB_TTL_S)) as base:
        yield base


@pytest.fixture(scope="module")
def browser():
    with chrome() as driver:
        yield driver


@pytest.fixture(autouse=True)
def _fresh_console(request):
    if "browser" in request.fixturenames:
        request.getfixturevalue("browser").get_log("browser")


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    """Two short songs and a text file named like an MP3."""
    folder = tmp_path_factory.mktemp("batch-media")
    broken = folder / "broken.mp3"
    broken.write_text("This is a shopping list, not a song.\n" * 20)
    return {
        "first": write_mp3(folder / "first song.mp3", seconds=10.0, seed=11),
        "second": write_mp3(folder / "second song.mp3", seconds=10.0, seed=12),
        "broken": broken,
    }


@pytest.fixture(scope="module")
def genre_names() -> dict:
    return json.loads((ROOT / "genres.json").read_text(encoding="utf-8"))


def label(genre_names: dict, genre: str) -> str:
    entry = genre_names.get(genre)
    if isinstance(entry, dict) and entry.get("name"):
        return entry["name"]
    text = genre.replace("_", " ").replace("-", " ")
    return text[:1].upper() + text[1:]


# ----------------------------------------------------------------------------- helpers


def drop_files(driver, paths: list[Path]) -> None:
    """Drop files on the page as a user dragging them from a file manager would (a DragEvent)."""
    payload = [[p.name, base64.b64encode(p.read_bytes()).decode()] for p in paths]
    driver.execute_script(
        "const dt = new DataTransfer();"
        "for (const [name, data] of arguments[0]) {"
        "  const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));"
        "  dt.items.add(new File([bytes], name, {type: 'audio/mpeg'})); }"
        "const zone = document.getElementById('dropzone');"
        "for (const type of ['dragenter', 'dragover', 'drop'])"
        "  zone.dispatchEvent(new DragEvent(type, {dataTransfer: dt, bubbles: true, cancelable: true}));",
        payload,
    )


def rows(driver) -> list[dict]:
    return driver.execute_script(ROWS)


def wait_rows_finished(driver, count: int, timeout: float = JOB_TIMEOUT_S) -> list[dict]:
    def finished(d):
        shown = rows(d)
        return shown if len(shown) == count and all(r["state"] in ("done", "failed") for r in shown) else False

    return WebDriverWait(driver, timeout, poll_frequency=0.25).until(finished)


def jobs_in_address(driver) -> list[str]:
    return parse_qs(urlparse(driver.current_url).query).get("job", [])


def post_job(base: str, paths: list[Path]) -> tuple[int, dict]:
    """POST /jobs with the files as repeated `file` fields, as a script would."""
    boundary = uuid.uuid4().hex
    body = b"".join(
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{p.name}\"\r\n"
        f"Content-Type: application/octet-stream\r\n\r\n".encode() + p.read_bytes() + b"\r\n" for p in paths
    ) + f"--{boundary}--\r\n".encode()
    req = urllib.request.Request(f"{base}/jobs", data=body, method="POST", headers={
        "Content-Type": f"multipart/form-data; boundary={boundary}", "Accept": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as response:
        return response.status, json.loads(response.read())


def wait_job_done(base: str, job_id: str, timeout: float = JOB_TIMEOUT_S) -> dict:
    deadline = time.time() + timeout
    while True:
        status, job = get_json(f"{base}/jobs/{job_id}")
        assert status == 200, job
        if job["status"] == "done" or time.time() > deadline:
            return job
        time.sleep(0.5)


@pytest.fixture(scope="module")
def batch(browser, server, media) -> dict:
    """Drop the two songs and the broken file on the page once; the tests look at that batch."""
    browser.get(f"{server}/")
    browser.execute_script(WATCH_STATES)
    drop_files(browser, [media["first"], media["broken"], media["second"]])
    WebDriverWait(browser, 30).until(lambda d: len(rows(d)) == 3)
    shown = wait_rows_finished(browser, 3)
    ids = jobs_in_address(browser)
    assert len(ids) == 1, browser.current_url
    status, job = get_json(f"{server}/jobs/{ids[0]}")
    assert status == 200 and job["status"] == "done", job
    return {"url": browser.current_url, "job": job, "rows": shown, "seen": browser.execute_script("return window.__seen")}


# ----------------------------------------------------------------------------- the batch


def test_dropped_files_become_one_job_with_a_row_each(batch, genre_names):
    job, shown = batch["job"], batch["rows"]
    assert job["total"] == 3 and job["done"] == 2 and job["failed"] == 1
    # one row per file, in the order of the job's files (sorted by name on the page before sending)
    assert [r["name"] for r in shown] == [f["filename"] for f in job["files"]] == ["broken.mp3", "first song.mp3", "second song.mp3"]
    for row, file in zip(shown, job["files"]):
        assert row["now"] == "100" and row["width"] == "100%"
        if file["status"] == "done":
            assert row["state"] == "done" and row["text"].startswith("Done"), row
            assert "bg-success" in row["bar"]
            assert label(genre_names, file["genre"]) in row["genre"], (row, file)
            assert percent_shows(row["genre"], file["confidence"]), (row, file)
        else:
            assert file["filename"] == "broken.mp3" and file["error"]["message"]
            assert row["state"] == "failed" and "bg-danger" in row["bar"]
            assert row["text"] == f"Failed: {file['error']['message']}", row  # in words, not only red
    # the rows went through upload (progress of the request), the queue and the analysis
    seen = batch["seen"]
    assert "uploading" in seen and ("queued" in seen or "running" in seen), seen
    assert seen.index("uploading") < seen.index("done")


def test_the_table_is_an_accessible_table(browser, batch):
    info = browser.execute_script(
        "const t = document.getElementById('batch-table');"
        "return {caption: t.caption && t.caption.textContent.trim(),"
        " headers: [...t.tHead.rows[0].cells].map(c => [c.tagName, c.scope, c.textContent.trim()]),"
        " rowHeaders: [...t.querySelectorAll('tbody th[scope=row]')].length,"
        " bars: [...t.querySelectorAll('tbody [role=progressbar]')].map(b => [b.getAttribute('aria-valuemin'),"
        "  b.getAttribute('aria-valuemax'), b.getAttribute('aria-label')]),"
        " summary: document.getElementById('batch-summary').textContent}")
    assert info["caption"]
    assert info["headers"] == [["TH", "col", "File"], ["TH", "col", "Progress"], ["TH", "col", "Genre"]]
    assert info["rowHeaders"] == 3
    assert [b[:2] for b in info["bars"]] == [["0", "100"]] * 3 and all(b[2].startswith("Progress of ") for b in info["bars"])
    assert info["summary"] == "3 files: 2 done, 1 failed. All finished."


def test_the_csv_link_downloads_the_jobs_results(browser, server, batch):
    link = browser.find_element(By.CSS_SELECTOR, "#batch-csv a")
    assert link.text == "Download CSV" and link.get_attribute("download") is not None
    href = link.get_attribute("href")
    assert href == f"{server}{batch['job']['results_csv']}"
    with urllib.request.urlopen(href, timeout=30) as response:
        assert response.headers.get_content_type() == "text/csv"
        table = list(csv.DictReader(io.StringIO(response.read().decode("utf-8"))))
    assert len(table) == 3
    assert sorted(r["filename"] for r in table) == ["broken.mp3", "first song.mp3", "second song.mp3"]
    assert sorted(r["status"] for r in table) == ["done", "done", "failed"]


def test_a_done_row_opens_its_result(browser, server, batch):
    assert browser.current_url == batch["url"]  # still the page the files were dropped on: it has the files
    done = next(f for f in batch["job"]["files"] if f["status"] == "done")
    row = browser.find_elements(By.CSS_SELECTOR, "#batch-table .batch-row")[done["index"]]
    row.find_element(By.CSS_SELECTOR, ".batch-genre").click()  # anywhere on the row
    analysis_id = wait_for_result(browser)
    assert analysis_id == done["analysis_id"]
    assert browser.find_element(By.ID, "result-filename").text == done["filename"]
    assert row.get_attribute("aria-current") == "true"
    assert browser.find_element(By.ID, "player").is_displayed()  # the dropped file itself plays
    assert browser.find_element(By.CSS_SELECTOR, "#back-to-batch a").get_attribute("href").endswith("#batch")
    assert jobs_in_address(browser) == [batch["job"]["id"]]  # the table stays in the address
    # a failed row opens nothing; the row's button works from the keyboard too
    failed = browser.find_elements(By.CSS_SELECTOR, "#batch-table .batch-row")[0]
    assert failed.find_elements(By.CSS_SELECTOR, ".batch-open")[0].is_displayed() is False
    other = next(f for f in batch["job"]["files"] if f["status"] == "done" and f["index"] != done["index"])
    button = browser.find_elements(By.CSS_SELECTOR, "#batch-table .batch-row")[other["index"]].find_element(By.CSS_SELECTOR, ".batch-open")
    browser.execute_script("arguments[0].focus()", button)
    button.send_keys("\n")
    assert wait_for_result(browser, previous_id=analysis_id) == other["analysis_id"]
    assert browser_errors(browser) == []


def test_a_reload_shows_the_table_again_and_stops_polling_when_done(browser, server, batch):
    script = browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": (
        "window.__jobPolls = 0; const realFetch = window.fetch.bind(window);"
        "window.fetch = (input, init) => { if (String(input.url || input).includes('/jobs/')) window.__jobPolls += 1;"
        " return realFetch(input, init); };")})
    try:
        browser.get(batch["url"])
        shown = wait_rows_finished(browser, 3, timeout=30)
    finally:
        browser.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", {"identifier": script["identifier"]})
    assert [(r["name"], r["state"], r["genre"], r["text"]) for r in shown] == \
        [(r["name"], r["state"], r["genre"], r["text"]) for r in batch["rows"]]
    assert browser.find_element(By.CSS_SELECTOR, "#batch-csv a").get_attribute("href").endswith(batch["job"]["results_csv"])
    polls = browser.execute_script("return window.__jobPolls")
    time.sleep(2.5)
    assert browser.execute_script("return window.__jobPolls") == polls == 1, "polling goes on after the job is done"
    # opened after a reload, the page no longer has the file: the result shows the server's waveform
    done = next(f for f in batch["job"]["files"] if f["status"] == "done")
    browser.find_elements(By.CSS_SELECTOR, "#batch-table .batch-row")[done["index"]].click()
    assert wait_for_result(browser) == done["analysis_id"]
    assert browser.find_element(By.ID, "static-timeline").is_displayed()
    assert browser_errors(browser) == []


def test_the_table_fits_a_390_px_phone(batch):
    with chrome(width=390, height=844) as phone:
        phone.get(batch["url"])
        wait_rows_finished(phone, 3, timeout=30)
        layout = phone.execute_script(
            "const vw = document.documentElement.clientWidth;"
            "return {vw, scroll: document.documentElement.scrollWidth,"
            " boxes: [...document.querySelectorAll('#batch-table .batch-row')].map(r => {"
            "  const name = r.querySelector('.batch-file').getBoundingClientRect();"
            "  const bar = r.querySelector('[role=progressbar]').getBoundingClientRect();"
            "  const genre = r.querySelector('.batch-genre').getBoundingClientRect();"
            "  return {name: [name.left, name.right], bar: [bar.left, bar.right, bar.width], genre: [genre.left, genre.right]}; })};")
        assert layout["vw"] <= 390 and layout["scroll"] <= layout["vw"], layout
        for box in layout["boxes"]:
            for left, right in (box["name"], box["bar"][:2], box["genre"]):
                assert 0 <= left and right <= layout["vw"], box
            assert box["bar"][2] >= 120, box  # a bar wide enough to read
        csv_link = phone.find_element(By.CSS_SELECTOR, "#batch-csv a")
        assert csv_link.is_displayed()


def test_a_batch_no_longer_on_the_server_says_so(browser, server):
    browser.get(f"{server}/?job=0123456789abcdef")
    summary = browser.find_element(By.ID, "batch-summary")
    WebDriverWait(browser, 30).until(lambda d: summary.text == "This batch is no longer available.")
    note = browser.find_element(By.ID, "batch-note").text
    assert "No such job." in note
    assert "A batch is kept on the server for 36 hours after its last file is analysed;" in note  # JOB_TTL_S
    assert not browser.find_elements(By.CSS_SELECTOR, "#batch-csv a")
    assert browser_errors(browser, expected=("/jobs/0123456789abcdef",)) == []
    browser.get(f"{server}/?job=not%20an%20id")
    error = browser.find_element(By.ID, "error")
    WebDriverWait(browser, 10).until(lambda d: error.is_displayed())
    assert "batch id in the address is malformed" in error.text


# ----------------------------------------------------------------------------- choosing files


def test_a_folder_is_filtered_and_sent_as_a_batch(browser, server, media, tmp_path):
    album = tmp_path / "Album"
    album.mkdir()
    (album / "2 second.mp3").write_bytes(media["second"].read_bytes())
    (album / "1 first.mp3").write_bytes(media["first"].read_bytes())
    (album / ".DS_Store").write_bytes(b"\0\0\0\1Bud1" + bytes(64))
    (album / "notes.txt").write_text("track list")
    (album / "cover.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(64))
    browser.get(f"{server}/")
    browser.find_element(By.ID, "folder-input").send_keys(str(album))
    shown = wait_rows_finished(browser, 2)
    assert [r["name"] for r in shown] == ["Album/1 first.mp3", "Album/2 second.mp3"]
    assert [r["state"] for r in shown] == ["done", "done"]
    note = browser.find_element(By.ID, "batch-note").text
    assert note.startswith("Skipped 3 files:"), note
    assert "“Album/cover.jpg” (not audio or video)" in note and "“Album/notes.txt” (not audio or video)" in note
    assert "1 hidden or system file" in note and "DS_Store" not in note
    (job_id,) = jobs_in_address(browser)
    status, job = get_json(f"{server}/jobs/{job_id}")
    assert status == 200 and [f["filename"] for f in job["files"]] == ["1 first.mp3", "2 second.mp3"]
    assert browser_errors(browser) == []


def test_one_file_is_still_analysed_at_once_without_a_job(browser, server, media):
    browser.get(f"{server}/")
    browser.find_element(By.ID, "file-input").send_keys(str(media["first"]))
    wait_for_result(browser)
    assert not browser.find_element(By.ID, "batch").is_displayed()
    assert parse_qs(urlparse(browser.current_url).query).get("analysis") and not jobs_in_address(browser)
    sent = browser.execute_script("return performance.getEntriesByType('resource').map(e => new URL(e.name).pathname)")
    assert "/file-upload" in sent and not [p for p in sent if p.startswith("/jobs")]


def test_several_files_from_the_picker_make_a_batch(browser, server, media):
    browser.get(f"{server}/")
    browser.find_element(By.ID, "file-input").send_keys("\n".join(str(media[k]) for k in ("second", "first")))
    shown = wait_rows_finished(browser, 2)
    assert [(r["name"], r["state"]) for r in shown] == [("first song.mp3", "done"), ("second song.mp3", "done")]
    assert len(jobs_in_address(browser)) == 1


def test_files_over_the_upload_limit_together_go_in_several_jobs(browser, tmp_path):
    """Over the server's upload limit together, the files go in several requests (one job each) in
    one table; a file over the limit on its own is not sent at all."""
    songs = [write_mp3(tmp_path / f"{i} song.mp3", seconds=10.0, seed=70 + i) for i in (1, 2, 3)]  # ~160 KB each
    big = write_mp3(tmp_path / "4 long song.mp3", seconds=30.0, seed=74)  # ~480 KB
    with live_server(tmp_path / "server", MAX_UPLOAD_MB="0.4") as base:
        browser.get(f"{base}/")
        drop_files(browser, [big, *songs])
        shown = wait_rows_finished(browser, 4)
        assert [(r["name"], r["state"]) for r in shown] == [
            ("1 song.mp3", "done"), ("2 song.mp3", "done"), ("3 song.mp3", "done"), ("4 long song.mp3", "failed")]
        assert shown[3]["text"] == "Failed: Larger than the upload limit of 0.4 MB, so it was not sent."
        note = browser.find_element(By.ID, "batch-note").text
        assert "over the upload limit of 0.4 MB" in note and "in 2 parts" in note, note
        ids = jobs_in_address(browser)
        assert [[f["filename"] for f in get_json(f"{base}/jobs/{i}")[1]["files"]] for i in ids] == \
            [["1 song.mp3", "2 song.mp3"], ["3 song.mp3"]]
        assert [a.text for a in browser.find_elements(By.CSS_SELECTOR, "#batch-csv a")] == \
            ["Download CSV, part 1", "Download CSV, part 2"]
        browser.refresh()  # both jobs come back in one table
        assert [r["name"] for r in wait_rows_finished(browser, 3, timeout=30)] == ["1 song.mp3", "2 song.mp3", "3 song.mp3"]
        assert browser_errors(browser) == []


# ----------------------------------------------------------------------------- a full queue


def test_a_full_queue_is_waited_out_and_the_files_sent_again(browser, server, tmp_path):
    """The server refuses a job while its queue is full (503 queue_full, Retry-After): the page says so
    and sends the files again by itself once the queue has room."""
    blockers = [write_mp3(tmp_path / f"long {i}.mp3", seconds=40.0, seed=40 + i) for i in range(QUEUE_LIMIT)]
    songs = [write_mp3(tmp_path / f"late {i}.mp3", seconds=8.0, seed=60 + i) for i in range(2)]
    browser.get(f"{server}/")
    status, blocking = post_job(server, blockers)  # fills the queue
    assert status == 202, blocking
    drop_files(browser, songs)
    alert = browser.find_element(By.ID, "batch-alert")
    WebDriverWait(browser, 30, poll_frequency=0.1).until(lambda d: alert.is_displayed())
    assert "queue is full" in alert.text and f"sent again automatically in {RETRY_AFTER_S} s" in alert.text, alert.text
    assert {r["state"] for r in rows(browser)} <= {"waiting", "uploading", "sent"}
    assert not jobs_in_address(browser)
    shown = wait_rows_finished(browser, 2)
    assert [r["state"] for r in shown] == ["done", "done"]
    assert not alert.is_displayed()
    # refused twice, a part goes as two halves (one job each), which fit into a busy queue sooner
    ids = jobs_in_address(browser)
    assert 1 <= len(ids) <= 2
    assert [f["filename"] for i in ids for f in get_json(f"{server}/jobs/{i}")[1]["files"]] == ["late 0.mp3", "late 1.mp3"]
    links = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "#batch-csv a")]
    assert links == (["Download CSV"] if len(ids) == 1 else ["Download CSV, part 1", "Download CSV, part 2"])
    assert wait_job_done(server, blocking["id"])["status"] == "done"
    refused = "/jobs - Failed to load resource: the server responded with a status of 503"
    assert [e for e in browser_errors(browser) if refused not in e] == []

"""The real server as the Procfile starts it (gunicorn, 2 workers): parallel uploads, limits, headers."""
from __future__ import annotations

import csv
import http.client
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import ROOT, chord, clicks, noise, write_audio
from genrelens.library.file_tags import read_genre
from test_library_folder import heavy_mp3, start_library, wait_for_copy


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def procfile_command(port: int) -> list[str]:
    """The Procfile's web command with PORT substituted and bound to loopback."""
    line = next(l for l in (ROOT / "Procfile").read_text().splitlines() if l.startswith("web:"))
    command = line.split(":", 1)[1].replace("${PORT:-5000}", str(port)).replace("${WEB_CONCURRENCY:-2}", "2")
    args = shlex.split(command.replace("0.0.0.0", "127.0.0.1"))
    return [str(Path(sys.executable).parent / args[0]), *args[1:]]


def wait_until_serving(process: subprocess.Popen, log_path: Path, ready, timeout_s: float = 90) -> None:
    """Poll ``ready()`` (False, or OSError, while the server starts) until it is True; fail with the
    server's log when the process exits or ``timeout_s`` passes."""
    deadline = time.time() + timeout_s
    while True:
        if process.poll() is not None:
            pytest.fail(f"server exited with {process.returncode}: " + log_path.read_text(errors="replace")[-3000:])
        try:
            if ready():
                return
        except OSError:
            pass
        if time.time() > deadline:
            process.kill()
            pytest.fail(f"server did not start in {timeout_s:g} s: " + log_path.read_text(errors="replace")[-3000:])
        time.sleep(0.2)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("live")
    (tmp / "uploads").mkdir()
    port = free_port()
    env = os.environ | {"ANALYSIS_DIR": str(tmp / "store"), "UPLOAD_DIR": str(tmp / "uploads"), "MAX_UPLOAD_MB": "5"}
    log_path = tmp / "server.log"  # a file, not a pipe: a chatty server can never block on a full pipe
    with open(log_path, "wb") as log:
        process = subprocess.Popen(procfile_command(port), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    wait_until_serving(process, log_path, lambda: request(port, "GET", "/healthz")[0] == 200)
    pool = job_pool_of(process.pid)
    assert pool, "gunicorn starts the embedded job pool (gunicorn.conf.py, when_ready)"
    yield port, tmp
    process.terminate()
    process.wait(timeout=90)
    assert not Path(f"/proc/{pool}").exists(), "the job pool stops with the server"


def job_pool_of(master: int) -> int | None:
    """The pid of the embedded job pool among the gunicorn master's children."""
    for child in children_of(master):
        try:
            if b"genrelens.jobs.pool" in Path(f"/proc/{child}/cmdline").read_bytes() and alive(child):
                return child
        except FileNotFoundError:
            continue
    return None


def children_of(pid: int) -> list[int]:
    """Every thread's children (the master's supervisor thread starts a new pool)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found


def alive(pid: int) -> bool:
    """Running (a zombie waiting to be reaped is not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def wait_for(condition, timeout_s: float, what: str):
    deadline = time.time() + timeout_s
    while not (value := condition()):
        if time.time() > deadline:
            pytest.fail(f"{what}: not within {timeout_s:g} s")
        time.sleep(0.1)
    return value


def request(port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def multipart(path: Path) -> tuple[bytes, dict]:
    boundary = "----genre-test-boundary"
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    body = head + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def test_eight_parallel_uploads_all_succeed_with_their_own_results(server, audio_dir):
    port, tmp = server
    makers = [chord, noise, clicks, chord, noise, clicks, chord, noise]
    files = [write_audio(audio_dir / f"parallel{i}.mp3", make(9 + i, seed=i)) for i, make in enumerate(makers)]

    def send(path: Path):
        body, headers = multipart(path)
        status, _, data = request(port, "POST", "/file-upload", body, headers)
        return status, json.loads(data)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(send, files))
    assert [status for status, _ in results] == [200] * 8
    assert len({body["id"] for _, body in results}) == 8
    for i, (_, body) in enumerate(results):
        assert body["filename"] == f"parallel{i}.mp3"
        assert body["analyzed_s"] == pytest.approx(9 + i, abs=0.1)  # each answer is its own file's
        assert len(body["segments"]) == (9 + i) // 3
    # any worker serves any analysis
    for _, body in results:
        assert request(port, "GET", f"/analyses/{body['id']}")[0] == 200
    assert list((tmp / "uploads").iterdir()) == []


def test_oversized_upload_is_refused_before_it_is_read(server):
    """Content-Length over MAX_UPLOAD_MB: a 413 arrives while most of the body was never sent."""
    port, _ = server
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"POST /file-upload HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                     b"Content-Length: 209715200\r\n\r\n" + b"x" * 1024)
        reply = read_response(sock)
    assert reply.startswith("HTTP/1.1 413")
    assert json.loads(reply.split("\r\n\r\n", 1)[1])["error"]["code"] == "too_large"


def read_response(sock: socket.socket) -> str:
    """Read one HTTP response (headers, then Content-Length bytes of body) from a raw socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return (head + b"\r\n\r\n" + body).decode("latin-1")


def test_security_headers_on_page_and_api(server):
    port, _ = server
    for path in ("/", "/healthz", "/analyses/nope"):
        _, headers, _ = request(port, "GET", path)
        policy = headers["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy and "blob:" in policy
        assert headers["X-Content-Type-Options"] == "nosniff"
    assert request(port, "GET", "/api/model")[1].get("Access-Control-Allow-Origin") is None


def test_debug_is_off(server):
    port, _ = server
    status, headers, body = request(port, "GET", "/analyses/0123456789abcdef/waveform.png")
    assert status == 404 and headers["Content-Type"] == "application/json"
    assert b"Traceback" not in body and b"Werkzeug Debugger" not in body


def test_the_library_tagger_sends_a_folder_to_the_servers_job_queue(server, tmp_path):
    """`python -m genrelens.library --server`: the files go up as a job, the server's pool analyses them,
    the rows come back into the CSV, and each row's analysis can be opened on the server."""
    port, _ = server
    library = tmp_path / "library"
    (library / "album").mkdir(parents=True)
    write_audio(library / "album" / "one.mp3", chord(6, seed=31))
    write_audio(library / "two.ogg", clicks(6, seed=32))
    (library / "three.flac").write_text("not audio at all")
    out = tmp_path / "results.csv"
    run = subprocess.run([sys.executable, "-m", "genrelens.library", str(library), "--out", str(out), "--quiet",
                          "--server", f"http://127.0.0.1:{port}"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 1, run.stderr  # one file failed
    assert "2 done, 0 skipped (done before), 1 failed" in run.stdout
    rows = {row["filename"]: row for row in csv.DictReader(out.open())}
    assert sorted(rows) == ["album/one.mp3", "three.flac", "two.ogg"]
    assert rows["three.flac"]["status"] == "failed" and rows["three.flac"]["error_code"] == "unsupported_media"
    for name in ("album/one.mp3", "two.ogg"):
        status, _, body = request(port, "GET", f"/analyses/{rows[name]['analysis_id']}")
        assert status == 200 and json.loads(body)["genre"] == rows[name]["genre"]


def test_server_mode_gives_a_name_that_is_not_utf8_its_row_and_no_cell_starts_a_formula(server, tmp_path):
    port, _ = server
    library = tmp_path / "library"
    library.mkdir()
    write_audio(library / os.fsdecode(b"caf\xe9.mp3"), chord(6, seed=33))
    write_audio(library / "=1+1.ogg", clicks(6, seed=34))
    out = tmp_path / "results.csv"
    command = [sys.executable, "-m", "genrelens.library", str(library), "--out", str(out), "--quiet",
               "--server", f"http://127.0.0.1:{port}"]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "2 done, 0 skipped (done before), 0 failed" in run.stdout
    rows = {row["filename"]: row for row in csv.DictReader(out.open(encoding="utf-8"))}
    assert sorted(rows) == ["'=1+1.ogg", "caf\\xe9.mp3"] and {row["status"] for row in rows.values()} == {"done"}
    again = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert "0 done, 2 skipped (done before), 0 failed" in again.stdout, again.stderr  # both known on resume


def test_a_jobs_results_csv_writes_a_cell_that_would_start_a_formula_as_text(server, audio_dir):
    port, _ = server
    song = write_audio(audio_dir / "formula.mp3", chord(5, seed=35))
    names = ["=HYPERLINK(1+1).mp3", "@SUM(A1).mp3", " -2.mp3", "plain.mp3"]  # the server drops the blank
    boundary = "----genre-test-boundary"
    body = b"".join(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
                    f"Content-Type: audio/mpeg\r\n\r\n".encode() + song.read_bytes() + b"\r\n" for name in names)
    body += f"--{boundary}--\r\n".encode()
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    status, _, data = request(port, "POST", "/jobs", body, headers)
    assert status == 202, data
    job_id = json.loads(data)["id"]
    deadline = time.monotonic() + 180  # only so that a stuck job fails the test instead of hanging it
    while json.loads(request(port, "GET", f"/jobs/{job_id}")[2])["status"] != "done":
        assert time.monotonic() < deadline, "the job did not finish"
        time.sleep(0.2)
    status, _, data = request(port, "GET", f"/jobs/{job_id}/results.csv")
    assert status == 200
    rows = list(csv.reader(data.decode("utf-8").splitlines()))
    assert [row[0] for row in rows[1:]] == ["'=HYPERLINK(1+1).mp3", "'@SUM(A1).mp3", "'-2.mp3", "plain.mp3"]
    assert not [cell for row in rows for cell in row if cell[:1] in ("\t", "\r")
                or cell.lstrip(" \t")[:1] in ("=", "+", "-", "@")]


def test_sigterm_while_server_mode_tags_a_file_leaves_no_copy_and_says_so(server, tmp_path):
    """--server mode writes the tags in the tagger's own process: its SIGTERM handler removes the copy."""
    port, _ = server
    library = tmp_path / "library"
    library.mkdir()
    heavy = heavy_mp3(library / "heavy.mp3")
    out = tmp_path / "results.csv"
    process = start_library(str(library), "--out", str(out), "--write-tags", "--server", f"http://127.0.0.1:{port}",
                            logs=tmp_path)
    try:
        wait_for_copy(library, ".heavy.", process, tmp_path)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=120) == 143
    finally:
        if process.poll() is None:
            process.kill()
    assert sorted(os.listdir(library)) == ["heavy.mp3"]
    stderr = (tmp_path / "stderr").read_text()
    assert "stopped (SIGTERM): the rows of the files finished are in" in stderr and "Traceback" not in stderr
    assert (tmp_path / "stdout").read_text().startswith("0 done, 0 skipped (done before), 0 failed")
    assert read_genre(heavy) == []


def test_a_killed_job_pool_is_replaced_and_leaves_no_worker_behind(tmp_path, audio_dir):
    """SIGKILL of the pool's parent (as the OOM killer does): its workers go with it, the server starts a
    new pool, and jobs still finish."""
    (tmp_path / "uploads").mkdir()
    port = free_port()
    env = os.environ | {"ANALYSIS_DIR": str(tmp_path / "store"), "UPLOAD_DIR": str(tmp_path / "uploads"),
                        "JOB_WORKERS": "2"}
    log_path = tmp_path / "server.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(procfile_command(port), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    workers: list[int] = []
    try:
        wait_until_serving(process, log_path, lambda: request(port, "GET", "/healthz")[0] == 200)
        pool = wait_for(lambda: job_pool_of(process.pid), 60, "no job pool")
        workers = wait_for(lambda: len(children_of(pool)) == 2 and children_of(pool), 120, "the pool's 2 workers")
        os.kill(pool, signal.SIGKILL)
        wait_for(lambda: not any(alive(pid) for pid in workers), 60, "the killed pool's workers still run")
        new_pool = wait_for(lambda: (found := job_pool_of(process.pid)) != pool and found, 60, "no new pool")
        wait_for(lambda: len(children_of(new_pool)) == 2, 120, "the new pool's workers")
        status, _, body = request(port, "GET", "/healthz")
        assert status == 200 and json.loads(body)["jobs"]["pool_restarts"] == 1
        assert "the job pool (pid %d)" % pool in log_path.read_text(errors="replace")

        song = write_audio(audio_dir / "after-the-kill.mp3", chord(6, seed=41))
        body, headers = multipart(song)
        status, _, data = request(port, "POST", "/jobs", body, headers)
        assert status == 202, data[:300]
        job_id = json.loads(data)["id"]
        view = wait_for(lambda: (v := json.loads(request(port, "GET", f"/jobs/{job_id}")[2]))["status"] == "done" and v,
                        180, "the job did not finish")
        assert view["files"][0]["status"] == "done"
    finally:
        process.terminate()
        process.wait(timeout=90)
        for pid in workers:  # never leave an orphan behind, whatever happened
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
    assert job_pool_of(process.pid) is None


def test_server_mode_writes_playlists_with_the_lengths_the_server_found(server, tmp_path):
    """`--server --playlists DIR`: the job's entries carry each file's length and style, so the playlists
    written from a service's answers say how long each file is (#EXTINF:6)."""
    port, _ = server
    library = tmp_path / "library"
    library.mkdir()
    write_audio(library / "one.mp3", chord(6, seed=35))
    write_audio(library / "two.ogg", clicks(6, seed=36))
    out, lists = tmp_path / "results.csv", tmp_path / "lists"
    run = subprocess.run([sys.executable, "-m", "genrelens.library", str(library), "--out", str(out), "--quiet",
                          "--server", f"http://127.0.0.1:{port}", "--playlists", str(lists)],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    rows = {row["filename"]: row for row in csv.DictReader(out.open())}
    for name, row in rows.items():
        text = (lists / f"{row['genre']}.m3u8").read_text(encoding="utf-8")
        assert f"#EXTINF:6,{row['genre']} - {name}\n../library/{name}\n" in text

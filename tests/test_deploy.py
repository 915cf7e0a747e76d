"""Deploying without npm: the committed static/vendor equals what the lock file's packages contain, the
Dockerfile runs the Procfile's command as a non-root user, and that command serves the complete page
from a clean checkout (no node_modules, no npm run) with nothing but the Python packages installed."""
from __future__ import annotations

import filecmp
import http.client
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
from docker.utils.build import PatternMatcher, exclude_paths
from dockerfile_parse import DockerfileParser

from conftest import ROOT, chord, write_audio
from test_live_server import free_port, wait_until_serving

VENDOR = ROOT / "static" / "vendor"
REGENERATE = "regenerate with `make vendor` (npm ci, then npm run vendor) and commit static/vendor"


def procfile_web() -> str:
    """The Procfile's web command, read now (it is not hard-coded here)."""
    line = next(l for l in (ROOT / "Procfile").read_text().splitlines() if l.startswith("web:"))
    return line.split(":", 1)[1].strip()


def dockerfile() -> dict[str, list[str]]:
    """Each instruction of the Dockerfile (as Docker's syntax reads it) -> its values, in order."""
    instructions: dict[str, list[str]] = {}
    for item in DockerfileParser(path=str(ROOT / "Dockerfile")).structure:
        instructions.setdefault(item["instruction"], []).append(item["value"])
    return instructions


def healthcheck_command() -> list[str]:
    """The HEALTHCHECK's exec-form command (after its --options)."""
    (value,) = dockerfile()["HEALTHCHECK"]
    return json.loads(value.partition("CMD ")[2])


def dockerignore() -> list[str]:
    """The .dockerignore patterns, read as the docker client does (blank lines and comments dropped)."""
    lines = (line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


# ---------------------------------------------------------------------------- the committed vendor files
def test_static_vendor_is_committed_not_ignored():
    files = sorted(p for p in VENDOR.rglob("*") if p.is_file())
    assert files, f"static/vendor is empty: {REGENERATE}"
    done = subprocess.run(["git", "check-ignore", "--no-index", *map(str, files)], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.stdout == "", f"git ignores these vendored files, so a clone lacks them: {done.stdout}"


def test_vendor_files_equal_the_lock_files_packages(tmp_path):
    """`npm ci` from package-lock.json (integrity-checked) into a temporary directory, the same copy
    script, then every file compared byte for byte with the committed one: none missing, none extra."""
    npm = shutil.which("npm")
    assert npm, "npm is needed to check static/vendor against package-lock.json: install Node.js and npm"
    for name in ("package.json", "package-lock.json"):
        shutil.copy2(ROOT / name, tmp_path / name)
    done = subprocess.run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, "npm ci failed:\n" + done.stdout[-2000:] + done.stderr[-2000:]
    fresh = tmp_path / "vendor"
    done = subprocess.run(["node", str(ROOT / "scripts" / "copy_vendor.mjs"), str(tmp_path / "node_modules"), str(fresh)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, "scripts/copy_vendor.mjs failed:\n" + done.stdout + done.stderr

    def tree(root: Path) -> set[str]:
        return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}

    expected, committed = tree(fresh), tree(VENDOR)
    assert expected, "scripts/copy_vendor.mjs copied nothing"
    missing = sorted(expected - committed)
    extra = sorted(committed - expected)
    differ = sorted(f for f in expected & committed if not filecmp.cmp(fresh / f, VENDOR / f, shallow=False))
    problems = [f"static/vendor/{f} is missing" for f in missing]
    problems += [f"static/vendor/{f} is not made by scripts/copy_vendor.mjs" for f in extra]
    problems += [f"static/vendor/{f} differs from the package-lock.json package's file" for f in differ]
    assert not problems, "; ".join(problems) + f": {REGENERATE}"


# ---------------------------------------------------------------------------- the image definition
def test_dockerfile_runs_the_procfiles_command_as_non_root_with_a_healthcheck():
    instructions = dockerfile()
    (base,) = instructions["FROM"]
    assert base.split("@")[0] == "python:3.11-slim", base  # a digest may pin it
    assert any(re.search(r"\bpip install\b.*-r requirements\.txt", run) for run in instructions["RUN"])

    user = instructions["USER"][-1]
    name, _, group = user.partition(":")
    assert name not in ("root", "0") and group not in ("root", "0"), f"the image runs as {user}"
    if name.isdigit():  # a numeric USER (what Kubernetes' runAsNonRoot can verify) must be created
        assert any(re.search(rf"\buseradd\b.*--uid {name}\b", run) for run in instructions["RUN"])

    # exec form through sh: the Procfile's ${PORT:-5000} expands, and `exec` makes gunicorn PID 1 (SIGTERM).
    assert json.loads(instructions["CMD"][-1]) == ["/bin/sh", "-c", f"exec {procfile_web()}"], \
        "the Dockerfile's CMD must be the Procfile's web command (keep the two in step)"

    command = healthcheck_command()
    assert command[:2] == ["python", "-c"] and "/healthz" in command[2]


def test_dockerignore_leaves_out_what_the_server_never_reads():
    excluded = PatternMatcher(dockerignore())
    for path in (".git/HEAD", ".venv/bin/python", "node_modules/bootstrap/package.json", ".cache/features.npz",
                 ".pytest_cache/README.md", "tests/data/musicnn_reference.npz", "genrelens/__pycache__/audio.cpython-311.pyc",
                 "training/train.py", "bench/out/run.json"):
        assert excluded.matches(path), f"{path} would be sent to the Docker build"
    for path in ("app.py", "gunicorn.conf.py", "genrelens/analysis/audio.py", "models/model_card.json",
                 "static/vendor/bootstrap/bootstrap.min.css", "templates/index.html", "requirements.txt"):
        assert not excluded.matches(path), f"{path} would be left out of the image"


# ---------------------------------------------------------------------------- the deploy, run here

def get(port: int, path: str, body: bytes | None = None, headers: dict | None = None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("POST" if body is not None else "GET", path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        connection.close()


def clean_image_tree(dest: Path) -> None:
    """What a clone holds (tracked files, plus new ones `git add -A` would commit), less .dockerignore's
    patterns: the image's /app. A Procfile platform gets the whole clone, a superset of it."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    clone = dest.parent / "clone"
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, clone / name)
    for name in exclude_paths(str(clone), dockerignore()):
        if (clone / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(clone / name, dest / name)
    shutil.rmtree(clone)


def read_only(paths: list[str], script: str) -> list[str]:
    """Run `script` in a private mount namespace in which `paths` are read-only, even to root."""
    mount = shutil.which("mount")
    mounts = " && ".join(f"{mount} --bind -o ro {shlex.quote(p)} {shlex.quote(p)}" for p in paths)
    return [shutil.which("unshare"), "--mount", "--propagation", "private", "/bin/sh", "-c", f"{mounts} && {script}"]


@pytest.fixture(scope="module")
def deployed():
    """The Procfile's command, run from the image's tree under a bare environment: PATH is this Python
    environment's bin only (no ffmpeg command, no node, no npm), HOME and TMPDIR fresh. When the tests
    run as root (as CI does), the code, the packages and the interpreter are mounted read-only, as they
    are to the image's non-root user, so a write anywhere but HOME and TMPDIR fails as it would there."""
    base = Path(tempfile.mkdtemp(prefix="genrelens-deploy-"))
    app_dir, home, tmp = base / "app", base / "home", base / "tmp"
    for folder in (app_dir, home, tmp):
        folder.mkdir()
    clean_image_tree(app_dir)
    assert not (app_dir / "node_modules").exists() and (app_dir / "static" / "vendor").is_dir()
    probe = app_dir / "static" / "deploy-probe.txt"  # proves the server reads this tree, not the repo's
    probe.write_text(base.name)

    port = free_port()
    env = {"PATH": str(Path(sys.executable).parent), "HOME": str(home), "TMPDIR": str(tmp), "LANG": "C.UTF-8",
           "PORT": str(port), "WEB_CONCURRENCY": "1"}
    assert shutil.which("ffmpeg", path=env["PATH"]) is None  # decoding needs no ffmpeg command: PyAV does it in-process
    script = "exec " + procfile_web().replace("0.0.0.0", "127.0.0.1")  # what the Dockerfile's CMD runs
    command = ["/bin/sh", "-c", script]
    if os.geteuid() == 0:
        command = read_only([str(app_dir), sys.prefix, sys.base_prefix], script)
    log_path = base / "server.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=app_dir, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        wait_until_serving(process, log_path, lambda: get(port, "/healthz")[0] == 200, timeout_s=120)
        yield port, app_dir, probe
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()
        shutil.rmtree(base, ignore_errors=True)


class PageRefs(HTMLParser):
    """Every /static/ URL the page names (href, src, data-* attributes), which of them are module
    scripts, and every script or stylesheet that is not on this server."""

    def __init__(self):
        super().__init__()
        self.static: set[str] = set()
        self.modules: set[str] = set()
        self.foreign: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for value in attrs.values():
            if value and value.startswith("/static/") and not value.endswith("/"):
                self.static.add(value)
        loads = attrs.get("src") if tag == "script" else attrs.get("href") if tag == "link" else None
        if loads and not loads.startswith("/static/"):
            self.foreign.append(loads)
        if tag == "script" and attrs.get("type") == "module" and attrs.get("src"):
            self.modules.add(attrs["src"])


# Module specifiers: `import ... from 'x'` / `export ... from 'x'` / `import 'x'` statements, and `import('x')`.
JS_IMPORT = re.compile(r"""^\s*(?:import|export)\b(?:[^;'"]*?\bfrom)?\s*(['"])([^'"\n]+)\1"""
                       r"""|\bimport\s*\(\s*(['"])([^'"\n]+)\3\s*\)""", re.MULTILINE)
CSS_URL = re.compile(r"""url\(\s*['"]?([^'")]+)['"]?\s*\)|@import\s+['"]([^'"]+)['"]""")
CONTENT_TYPES = {".css": {"text/css"}, ".js": {"text/javascript", "application/javascript"},
                 ".png": {"image/png"}, ".svg": {"image/svg+xml"}}


def test_the_page_and_everything_it_loads_are_served(deployed):
    port, app_dir, probe = deployed
    assert get(port, "/static/deploy-probe.txt")[2] == probe.read_bytes()
    status, content_type, html = get(port, "/")
    assert status == 200 and content_type.startswith("text/html")
    refs = PageRefs()
    refs.feed(html.decode())
    assert not refs.foreign, f"the page loads code from elsewhere (it must work offline): {refs.foreign}"
    assert any("/vendor/" in url for url in refs.static)

    queue, modules, fetched = sorted(refs.static), set(refs.modules), set()
    while queue:
        url = queue.pop()
        if url in fetched:
            continue
        fetched.add(url)
        status, content_type, body = get(port, url)
        assert status == 200, f"{url}: {status}"
        assert body, f"{url} is empty"
        suffix = Path(urlsplit(url).path).suffix
        assert content_type.split(";")[0] in CONTENT_TYPES.get(suffix, {content_type.split(";")[0]}), \
            f"{url} is served as {content_type}"
        assert body == (app_dir / urlsplit(url).path.lstrip("/")).read_bytes()
        if url in modules:
            for spec in (m[1] or m[3] for m in JS_IMPORT.findall(body.decode())):
                assert spec.startswith((".", "/")), f"{url} imports {spec!r}, which no browser resolves without a bundler"
                modules.add(urljoin(url, spec))
                queue.append(urljoin(url, spec))
        if suffix == ".css":
            for link in filter(None, (a or b for a, b in CSS_URL.findall(body.decode()))):
                if not link.startswith(("data:", "#")):
                    queue.append(urljoin(url, link))

    vendored = {"/" + p.relative_to(app_dir).as_posix() for p in (app_dir / "static" / "vendor").rglob("*")
                if p.is_file() and p.name != "LICENSE"}
    assert vendored, "no vendored files in the image's tree"
    assert vendored <= fetched, f"vendored but not loaded: {sorted(vendored - fetched)}"
    assert len(modules) >= 5  # main.js and its imports, the player, wavesurfer and its plugins


def test_an_upload_is_decoded_and_drawn_with_only_the_python_packages(deployed, audio_dir):
    port, _, _ = deployed
    path = write_audio(audio_dir / "deploy.wav", chord(7))
    boundary = "----deploy-boundary"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="deploy.wav"\r\n'
            "Content-Type: audio/wav\r\n\r\n").encode() + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    status, _, data = get(port, "/file-upload", body, {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert status == 200, data[:500]
    result = json.loads(data)
    assert result["analyzed_s"] == pytest.approx(7, abs=0.1)
    assert result["genre"] in {g["genre"] for g in result["genres"]}
    status, content_type, png = get(port, result["images"]["waveform"])
    assert status == 200 and content_type == "image/png" and png.startswith(b"\x89PNG")


def test_the_images_healthcheck_command_passes_and_fails(deployed):
    port, _, _ = deployed
    command = [sys.executable, *healthcheck_command()[1:]]  # the image's `python`; here the tests' own
    env = {"PATH": os.environ.get("PATH", ""), "PORT": str(port)}
    assert subprocess.run(command, env=env, capture_output=True, timeout=30).returncode == 0
    env["PORT"] = str(free_port())  # nothing listens there
    assert subprocess.run(command, env=env, capture_output=True, timeout=30).returncode != 0

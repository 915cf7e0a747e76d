"""Benchmark: does a store at its cap make uploads slower? (issue 25, item 13)

    .venv/bin/python bench/bench_store_cap.py                 # from the repo root; about 5-10 minutes
    .venv/bin/python bench/bench_store_cap.py --rounds 40 --cap-mb 1024 --repo /path/to/another/checkout

Two servers side by side, each started as the Procfile does (gunicorn, ``WEB_CONCURRENCY`` workers, no
job pool: ``JOB_WORKERS=0``), on 127.0.0.1 with their own ``ANALYSIS_DIR``: one with a fresh database, one
whose analysis store was filled to ``ANALYSIS_STORE_MB`` beforehand (30-s signals stored through the
store's own ``add``, as a long-running server accumulates them). Then ``--rounds`` uploads of 30-s WAVs
to each, interleaved, each file a new take (its own inaudible noise: the server answers audio it has
seen before from its database). For each upload: the wall time the client waits, the server's own
``timing_ms.total`` (decode + analysis: the pipeline), and the difference, the time spent outside the
pipeline (request parsing, the temp file, the store: look-up, insert, pruning).

Done when (issue 25): at the cap, the p50 time outside the pipeline is within 1.5 x (+ 30 ms) of the
fresh store's. ``--repo`` runs another checkout's server (e.g. an export of ``main``) with this script.
Writes ``bench/store_cap.md`` (``--out``) and prints the same table. Uses only the stdlib and numpy
(and the checkout's own ``genrelens`` to fill the store).
"""
from __future__ import annotations

import argparse
import datetime as dt
import http.client
import io
import json
import os
import platform
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import wave
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent.parent
SR = 22050
STARTED = time.perf_counter()


def progress(message: str) -> None:
    print(f"[{time.perf_counter() - STARTED:6.1f} s] {message}", file=sys.stderr, flush=True)


def take(seconds: float, seed: int) -> bytes:
    """A 30-s mono 16-bit WAV of chords and a pulse with its own noise (a new take each time)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    tone = sum(np.sin(2 * np.pi * 220.0 * ratio * t) for ratio in (1.0, 1.26, 1.5)) / 3
    pulse = (np.mod(t, 0.5) < 0.05) * rng.standard_normal(len(t))
    signal = 0.4 * tone + 0.15 * pulse + 0.01 * rng.standard_normal(len(t))
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(SR)
        wav.writeframes((np.clip(signal, -1, 1) * 32767).astype("<i2").tobytes())
    return out.getvalue()


def fill_store(repo: Path, analysis_dir: Path, cap_mb: float, seconds: float) -> dict:
    """Fill the store of ``analysis_dir`` to a bit over its cap through the checkout's own ``AnalysisStore``."""
    code = f"""
import sys, time, json, numpy as np
sys.path.insert(0, {str(repo)!r})
from genrelens.jobs.database import Database
from genrelens.jobs.store import AnalysisStore
from genrelens.settings import database_url
store = AnalysisStore(Database(database_url({{"ANALYSIS_DIR": {str(analysis_dir)!r}}})), int({cap_mb} * 1048576), 3600)
signal = np.linspace(-0.5, 0.5, int({seconds} * {SR}), dtype=np.float32)
total, n, started = 0, 0, time.time()
while total < 1.08 * {cap_mb} * 1048576:
    signal[n % len(signal)] = n / 1e6  # every signal its own
    result_id, _ = store.add({{"genre": "rock", "filler": n}}, signal, f"fill-{{n}}", "filler@1")
    store.attach(result_id, f"fill-{{n}}.wav", signal)
    total += signal.astype(np.float16).nbytes
    n += 1
store.prune()
print(json.dumps({{"signals": n, "seconds": round(time.time() - started, 1)}}))
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(run.stdout.strip().splitlines()[-1])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def procfile_command(repo: Path, port: int) -> list[str]:
    line = next(l for l in (repo / "Procfile").read_text().splitlines() if l.startswith("web:"))
    command = line.split(":", 1)[1].replace("${PORT:-5000}", str(port)).replace("0.0.0.0", "127.0.0.1")
    command = command.replace("${WEB_CONCURRENCY:-2}", os.environ.get("WEB_CONCURRENCY", "2"))
    args = shlex.split(command)
    return [str(Path(sys.executable).parent / args[0]), *args[1:]]


class Server:
    def __init__(self, repo: Path, tmp: Path, cap_mb: float):
        self.port, self.tmp = free_port(), tmp
        (tmp / "uploads").mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "BROKER_URL", "ANALYSIS_DIR")}
        env |= {"ANALYSIS_DIR": str(tmp / "store"), "UPLOAD_DIR": str(tmp / "uploads"), "JOB_WORKERS": "0",
                "ANALYSIS_STORE_MB": str(cap_mb)}
        self.log = open(tmp / "server.log", "wb")
        self.process = subprocess.Popen(procfile_command(repo, self.port), cwd=repo, env=env, stdout=self.log,
                                        stderr=subprocess.STDOUT)

    def wait_ready(self, timeout_s: float = 180) -> None:
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"server exited: {(self.tmp / 'server.log').read_text()[-2000:]}")
            try:
                if self.request("GET", "/healthz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise SystemExit("server did not start")

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def upload(self, name: str, data: bytes) -> tuple[float, float]:
        """(wall ms, pipeline ms) of one upload."""
        boundary = uuid.uuid4().hex
        body = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
                "Content-Type: audio/wav\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
        started = time.perf_counter()
        status, reply = self.request("POST", "/file-upload", body,
                                     {"Content-Type": f"multipart/form-data; boundary={boundary}"})
        wall = (time.perf_counter() - started) * 1000
        if status != 200:
            raise SystemExit(f"upload failed: {status} {reply[:300]!r}")
        return wall, json.loads(reply)["timing_ms"]["total"]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def database_size(tmp: Path) -> str:
    files = list((tmp / "store").glob("genrelens.sqlite3*"))
    return f"{sum(f.stat().st_size for f in files) / 1048576:.0f} MB"


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30, help="uploads to each server (default 30)")
    parser.add_argument("--cap-mb", type=float, default=1024, help="ANALYSIS_STORE_MB of both servers (default 1024)")
    parser.add_argument("--seconds", type=float, default=30, help="length of each take (default 30 s)")
    parser.add_argument("--repo", type=Path, default=HERE, help="the checkout whose server runs (default: this one)")
    parser.add_argument("--out", type=Path, default=HERE / "bench" / "store_cap.md")
    args = parser.parse_args(argv)
    repo = args.repo.resolve()
    commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip() or "(not a git checkout)"
    with tempfile.TemporaryDirectory(prefix="bench-store-cap-") as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "full" / "store").mkdir(parents=True, mode=0o700)
        progress(f"filling a store to {args.cap_mb:g} MB with {args.seconds:g}-s signals ({repo})")
        filled = fill_store(repo, tmp / "full" / "store", args.cap_mb, args.seconds)
        progress(f"filled: {filled}")
        servers = {"fresh": Server(repo, tmp / "fresh", args.cap_mb),
                   "at its cap": Server(repo, tmp / "full", args.cap_mb)}
        try:
            for server in servers.values():
                server.wait_ready()
            sizes_before = {label: database_size(server.tmp) for label, server in servers.items()}
            for label, server in servers.items():  # each worker's first upload pays for its warm-up
                for n in range(4):
                    server.upload("warm.wav", take(args.seconds, seed=10_000 + n + 100 * len(label)))
            runs: dict[str, list[tuple[float, float]]] = {label: [] for label in servers}
            for n in range(args.rounds):
                for label, server in servers.items():
                    runs[label].append(server.upload(f"take{n}.wav", take(args.seconds, seed=n * 2 + len(label))))
                if n % 10 == 9:
                    progress(f"{n + 1} of {args.rounds} rounds")
            sizes_after = {label: database_size(server.tmp) for label, server in servers.items()}
        finally:
            for server in servers.values():
                server.stop()
    rows = []
    outside_p50 = {}
    for label, values in runs.items():
        walls, pipelines = [w for w, _ in values], [t for _, t in values]
        outside = [w - t for w, t in values]
        outside_p50[label] = statistics.median(outside)
        rows.append(f"| {label} | {sizes_before[label]} -> {sizes_after[label]} | {statistics.median(walls):.0f} / "
                    f"{p(walls, 0.95):.0f} | {statistics.median(pipelines):.0f} | {outside_p50[label]:.0f} / "
                    f"{p(outside, 0.95):.0f} |")
    fresh, full = outside_p50["fresh"], outside_p50["at its cap"]
    verdict = "met" if full <= 1.5 * fresh + 30 else "NOT met"
    command = " ".join(["bench/bench_store_cap.py", *(argv if argv is not None else sys.argv[1:])])
    report = "\n".join([
        "# A store at its cap against a fresh one (issue 25, item 13)",
        "",
        f"`{command}` at {commit}, {dt.date.today().isoformat()}; {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; {args.rounds} interleaved uploads of {args.seconds:g}-s WAVs to each "
        f"server (gunicorn from the Procfile, `WEB_CONCURRENCY={os.environ.get('WEB_CONCURRENCY', '2')}`, "
        f"`JOB_WORKERS=0`, `ANALYSIS_STORE_MB={args.cap_mb:g}`); the full store was filled with {filled['signals']} "
        f"signals in {filled['seconds']} s.",
        "",
        "| store | database files (before -> after) | request p50 / p95 ms | pipeline p50 ms "
        "| outside the pipeline p50 / p95 ms |",
        "|---|---|---|---|---|",
        *rows,
        "",
        f"Target: outside the pipeline at the cap <= 1.5 x fresh + 30 ms = {1.5 * fresh + 30:.0f} ms; "
        f"measured {full:.0f} ms: **{verdict}**.",
        "",
    ])
    print(report)
    args.out.write_text(report)
    return 0 if verdict == "met" else 1


if __name__ == "__main__":
    sys.exit(main())

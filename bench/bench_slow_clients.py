"""Benchmark: slow clients and bursts against the real server (issue 13.1), the Procfile's server and others.

    .venv/bin/python bench/bench_slow_clients.py                      # the Procfile's server and the old sync one
    .venv/bin/python bench/bench_slow_clients.py --configs procfile,gthread,sync --burst 40

For each server configuration (all on 127.0.0.1, each with its own store and upload folders):
  1. quiet: ``/healthz`` latency (20 requests) and 30-s MP3 upload latency (5 uploads), one at a time;
  2. slow clients: ``--slow`` clients send an upload's headers (Content-Length 100000) and then one byte
     a second; while they dribble, ``/healthz`` every 0.25 s for ``--slow-seconds`` (answered within 5 s
     or counted as not answered) and 30-s MP3 uploads one after the other (30-s client timeout); then
     how and when the slow clients were dropped (408, closed, or still open at the end);
  3. burst: ``--burst`` 30-s MP3 uploads, each on its own connection (all connected first), sent at the
     same instant by as many threads: the count of 200 / 503 / other, and the latency of each kind from
     the start to the whole answer.
Configurations: ``procfile`` (the Procfile's command, gunicorn.conf.py's ServingWorker), ``sync`` (the
command line before issue 13: sync workers, ``--preload --timeout 120``), ``gthread`` (gunicorn's threaded
worker, 8 threads per worker). Writes ``bench/slow_clients.md`` (``--out``) with the command and date.
The audio, the servers (started, and always stopped) and the report's header come from bench/harness.
"""
from __future__ import annotations

import argparse
import select
import socket
import sys
import threading
import time
from pathlib import Path

from harness import (ROOT, BenchRun, WebServer, display_command, encode, fmt, http_request, multipart, progress,
                     synth_music, table, versions, write_report)
from harness import percentile as pct

SLOW_HEAD = (b"POST /file-upload HTTP/1.1\r\nHost: bench\r\nContent-Type: multipart/form-data; boundary=b\r\n"
             b"Content-Length: 100000\r\n\r\n")
CONFIGS = {
    "procfile": None,  # the Procfile's web: line as it is
    "sync": ["--worker-class", "sync", "--preload", "--timeout", "120"],
    "gthread": ["--worker-class", "gthread", "--threads", "8", "--preload", "--timeout", "120"],
}
NOTE = ("A burst's connections can all land in one worker (asyncio accepts up to 100 waiting connections in one "
        "go), so with the defaults between 9 (1 running + 8 waiting in one worker) and 18 uploads of a burst get "
        "a 200; the rest get the 503 from the bounded queue at once.")
LABELS = {
    "procfile": "now: the Procfile (ServingWorker: asyncio + bounded analysis queue)",
    "sync": "before: sync workers (`--preload --workers 2 --timeout 120`)",
    "gthread": "alternative: gthread, 8 threads per worker",
}


def make_server(workdir: Path, config: str) -> WebServer:
    """The Procfile's command (no job pool), with the worker settings of the configuration after the program."""
    return WebServer(workdir / config, config, env={"JOB_WORKERS": "0"}, extra_args=CONFIGS[config] or ())


def timed_get(port: int, path: str, timeout: float) -> float | None:
    """Seconds for one GET on a new connection, None when not answered 200 within ``timeout``."""
    try:
        status, _, seconds = http_request(port, "GET", path, timeout=timeout)
    except OSError:
        return None
    return seconds if status == 200 else None


def timed_upload(port: int, body: tuple[bytes, dict], timeout: float) -> tuple[int | str, float]:
    started = time.perf_counter()
    try:
        status, _, seconds = http_request(port, "POST", "/file-upload", body[0], body[1], timeout=timeout)
        return status, seconds
    except OSError as exc:
        return type(exc).__name__, time.perf_counter() - started


class SlowClients:
    """``count`` sockets: an upload's headers, then one byte a second each until stopped or answered."""

    def __init__(self, port: int, count: int):
        self.socks = []
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.sendall(SLOW_HEAD)
            self.socks.append(sock)
        self.started = time.monotonic()
        self.dropped: dict[socket.socket, tuple[float, str]] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop.wait(1.0):
            open_socks = [s for s in self.socks if s not in self.dropped]
            readable, _, _ = select.select(open_socks, [], [], 0)
            for sock in readable:
                self.dropped[sock] = (time.monotonic() - self.started, self._reply(sock))
            for sock in open_socks:
                if sock not in self.dropped:
                    try:
                        sock.send(b"x")
                    except OSError:
                        self.dropped[sock] = (time.monotonic() - self.started, "reset")

    @staticmethod
    def _reply(sock: socket.socket) -> str:
        try:
            sock.settimeout(2)
            data = sock.recv(65536)
        except OSError:
            return "reset"
        return data.split(b" ", 2)[1].decode() if data.startswith(b"HTTP/") else ("closed" if not data else "garbage")

    def close(self):
        self.stop.set()
        self.thread.join()
        for sock in self.socks:
            sock.close()


def burst(port: int, request: bytes, count: int, timeout: float) -> list[tuple[int | str, float]]:
    """``count`` uploads sent at the same instant, each on its own connection (all connected first):
    (status, seconds from the start to the whole answer)."""
    socks = [socket.create_connection(("127.0.0.1", port), timeout=timeout) for _ in range(count)]
    results: list[tuple[int | str, float]] = [("none", 0.0)] * count
    barrier = threading.Barrier(count)

    def send(i: int):
        barrier.wait()
        started = time.perf_counter()
        try:
            socks[i].sendall(request)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = socks[i].recv(65536)
                if not chunk:
                    raise ConnectionError("closed")
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            length = next(int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length"))
            while len(body) < length:
                chunk = socks[i].recv(65536)
                if not chunk:
                    raise ConnectionError("closed")
                body += chunk
            results[i] = (int(head.split(b" ")[1]), time.perf_counter() - started)
        except OSError as exc:
            results[i] = (type(exc).__name__, time.perf_counter() - started)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for sock in socks:
        sock.close()
    return results


def run_config(config: str, bench: BenchRun, song: Path, args: argparse.Namespace) -> dict:
    server = make_server(bench.tmp, config)
    report: dict = {"config": config, "command": server.command}
    progress(f"{config}: {display_command(server.command)}")
    bench.start(server)
    try:
        report["start_s"] = server.wait_healthy()
        time.sleep(3)  # every worker booted and warmed
        body = multipart(song)
        request = (f"POST /file-upload HTTP/1.1\r\nHost: bench\r\nContent-Type: {body[1]['Content-Type']}\r\n"
                   f"Content-Length: {len(body[0])}\r\n\r\n").encode() + body[0]

        progress(f"{config}: quiet")
        report["quiet_healthz"] = [timed_get(server.port, "/healthz", 5) for _ in range(20)]
        report["quiet_uploads"] = [timed_upload(server.port, body, 30) for _ in range(5)]

        progress(f"{config}: {args.slow} slow clients for {args.slow_seconds} s")
        slow = SlowClients(server.port, args.slow)
        healthz, uploads = [], []
        stop = threading.Event()

        def upload_loop():
            while not stop.is_set():
                uploads.append(timed_upload(server.port, body, 30))

        uploader = threading.Thread(target=upload_loop, daemon=True)
        time.sleep(1)
        uploader.start()
        end = time.monotonic() + args.slow_seconds
        try:
            while time.monotonic() < end:
                healthz.append(timed_get(server.port, "/healthz", 5))
                time.sleep(0.25)
        finally:  # also on Ctrl-C or SIGTERM: the uploads stop before the server does
            stop.set()
            uploader.join()
        report["slow_healthz"], report["slow_uploads"] = healthz, uploads
        progress(f"{config}: waiting up to {args.drop_wait} s for the slow clients to be dropped")
        drop_end = time.monotonic() + args.drop_wait
        while len(slow.dropped) < len(slow.socks) and time.monotonic() < drop_end:
            time.sleep(0.5)
        slow.close()
        report["dropped"] = list(slow.dropped.values())
        report["still_open"] = len(slow.socks) - len(slow.dropped)
        time.sleep(2)

        progress(f"{config}: burst of {args.burst}")
        report["burst"] = burst(server.port, request, args.burst, timeout=180)
    finally:
        bench.stop(server)
    return report


def summary_rows(report: dict) -> list[list[str]]:
    def ms(values):
        return [v * 1000 for v in values]

    def latencies(samples):
        answered = [s for s in samples if s is not None]
        return f"{len(answered)} / {len(samples)}", ms(answered)

    rows = []
    n, q = latencies(report["quiet_healthz"])
    rows.append(["quiet: /healthz answered (5 s), p50 / p95 ms", n, f"{fmt(pct(q, 50), 1)} / {fmt(pct(q, 95), 1)}"])
    ok = [s for status, s in report["quiet_uploads"] if status == 200]
    rows.append(["quiet: 30-s MP3 uploads 200, p50 / max ms", f"{len(ok)} / {len(report['quiet_uploads'])}",
                 f"{fmt(pct(ms(ok), 50))} / {fmt(max(ms(ok), default=float('nan')))}"])
    n, q = latencies(report["slow_healthz"])
    rows.append(["slow clients: /healthz answered (5 s), p50 / p95 ms", n,
                 f"{fmt(pct(q, 50), 1)} / {fmt(pct(q, 95), 1)}"])
    ok = [s for status, s in report["slow_uploads"] if status == 200]
    other = sorted({str(status) for status, _ in report["slow_uploads"] if status != 200})
    rows.append(["slow clients: 30-s MP3 uploads 200 (30 s), p50 / max ms",
                 f"{len(ok)} / {len(report['slow_uploads'])}" + (f" (others: {', '.join(other)})" if other else ""),
                 f"{fmt(pct(ms(ok), 50))} / {fmt(max(ms(ok), default=float('nan')))}"])
    kinds: dict[str, list[float]] = {}
    for seconds, kind in report["dropped"]:
        kinds.setdefault(kind, []).append(seconds)
    dropped = ", ".join(f"{len(v)} {k} after {fmt(min(v), 1)}-{fmt(max(v), 1)} s" for k, v in sorted(kinds.items()))
    rows.append(["slow clients dropped", dropped or "none", f"{report['still_open']} still open at the end"])
    statuses: dict[str, list[float]] = {}
    for status, seconds in report["burst"]:
        statuses.setdefault(str(status), []).append(seconds * 1000)
    for status, values in sorted(statuses.items()):
        rows.append([f"burst of {len(report['burst'])}: {status}, latency p50 / max ms", str(len(values)),
                     f"{fmt(pct(values, 50))} / {fmt(max(values))}"])
    return rows


def markdown(reports: list[dict], args: argparse.Namespace, bench: BenchRun) -> str:
    lines = [
        "# Slow clients and bursts (issue 13.1)",
        "",
        "Written by `bench/bench_slow_clients.py`. Numbers from a shared 2-core machine: compare the "
        "configurations side by side, not across days.",
        "",
        bench.date_line(),
        bench.command_line(),
        bench.code_line(),
        bench.machine_line(),
        bench.load_line(),
        bench.versions_line(versions(("gunicorn", "a2wsgi", "flask"), ffmpeg=False)),
        f"- **Load:** {args.slow} slow clients (headers of an upload with Content-Length 100000, then 1 byte/s); "
        f"/healthz every 0.25 s and 30-s MP3 uploads back to back for {args.slow_seconds} s while they dribble; "
        f"then a burst of {args.burst} 30-s MP3 uploads sent at the same instant (one connection and thread each). Audio: synthetic music, "
        "44.1 kHz stereo MP3 at 192 kbit/s, made by the script.",
        "- **Server settings:** the defaults (`BODY_TIMEOUT_S` 20, `BODY_MIN_RATE` 16384, `HEADER_TIMEOUT_S` 10, "
        "`ANALYSIS_SLOTS` 1, `ANALYSIS_QUEUE` 8, `WSGI_THREADS` 8, 2 workers) unless the environment said otherwise",
        "",
    ]
    lines += [NOTE, ""]
    for report in reports:
        lines += [f"## {LABELS[report['config']]}", "", f"`{display_command(report['command'])}`", "",
                  table(["measure", "count", "value"], summary_rows(report)), ""]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", default="procfile,sync", help="comma-separated: " + ", ".join(CONFIGS))
    parser.add_argument("--slow", type=int, default=50, help="slow clients")
    parser.add_argument("--slow-seconds", type=float, default=15, help="how long to measure while they dribble")
    parser.add_argument("--drop-wait", type=float, default=20, help="how long to wait afterwards for them to be dropped")
    parser.add_argument("--burst", type=int, default=40, help="simultaneous uploads in the burst")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "slow_clients.md")
    args = parser.parse_args(argv)
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown:
        parser.error(f"unknown configuration(s): {', '.join(unknown)}")
    with BenchRun("bench/bench_slow_clients.py", argv) as bench:
        song = encode(synth_music(30, seed=1), bench.tmp / "song30.mp3")
        reports = [run_config(config, bench, song, args) for config in configs]
    write_report(markdown(reports, args, bench), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Soak: does a long-running server stay flat? (issue 25) Thousands of uploads and hundreds of jobs against
the Procfile's server with retention set short, and, every so often, what grows when something leaks.

    .venv/bin/python bench/bench_soak.py                          # from the repo root; 2,000 uploads, 200 jobs
    .venv/bin/python bench/bench_soak.py --uploads 200 --jobs 20 --ttl 20 --out /tmp/soak.md   # a quick check

The server is gunicorn from the Procfile (``bench/harness``: its own private database, the embedded job pool
beside it) with ``JOB_TTL_S``, ``RESULT_TTL_S`` and ``ANALYSIS_TTL_S`` all ``--ttl`` seconds, so a few
minutes of traffic go through the whole life of an analysis and a job: stored, served, expired, deleted,
and the file's space given back (the chores run every minute in the pool's parent). ``--clients`` threads
send ``--uploads`` ``POST /file-upload`` of short WAVs, each a new take (its own inaudible noise: the
server answers audio it has seen from its database, which would store nothing); meanwhile ``--jobs``
``POST /jobs`` of ``--files-per-job`` takes each go in, spread over the uploads, and each job is polled
until it is done. Every ``--every`` uploads (and at the start and the end, and once more after
``--settle`` idle seconds, when the chores have run on a quiet server) it records:

- the SQLite file and its ``-wal``: bytes, and the free pages (``PRAGMA freelist_count`` / ``page_count``),
  read through a read-only connection of its own; the rows of analyses, results, signals, jobs, job files;
- each process's RSS: the web workers, the job pool's parent and its workers (from ``/proc``);
- upload latency p50 / p95 over the uploads since the last record (the window), and p50 of the time
  outside the pipeline (the client's wall time less the server's ``timing_ms.total``), which the
  machine's other work moves less;
- the 1-minute load average (the machine is shared: a slow window with a high load is the machine).

Writes ``--out`` (bench/soak.md): the table, a verdict per measure (its first value once the retention
has run twice, against its last under load), the command and the machine.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sqlite3
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from harness import (ROOT, BenchError, BenchRun, WebServer, children, display_command, http_request, memory_mb,
                     multipart_of, percentile, progress, synth_music, table, versions, wait_until_idle, wav_bytes,
                     write_report)

SR = 22050
SONGS = 8  # distinct songs the takes are made from (each take adds its own noise)
SERVICE_ENV = ("WEB_CONCURRENCY", "JOB_WORKERS", "DEFAULT_MODEL", "MUSICNN_THREADS", "ANALYSIS_STORE_MB")
COUNTED = ("analyses", "results", "signals", "jobs", "job_files")


class Clips:
    """Short WAVs, each a new take of one of ``SONGS`` songs: the n-th take is the same bytes every run."""

    def __init__(self, seconds: float):
        self.songs = [synth_music(seconds, sr=SR, seed=100 + i).mean(axis=1) for i in range(SONGS)]

    def wav(self, n: int) -> tuple[str, bytes]:
        song = self.songs[n % SONGS]
        noise = 1e-4 * np.random.default_rng(10_000 + n).standard_normal(song.shape).astype(np.float32)
        return f"take-{n}.wav", wav_bytes(song + noise, SR)


@dataclass
class Upload:
    status: int
    wall_s: float
    pipeline_s: float = float("nan")  # the server's timing_ms.total


@dataclass
class Jobs:
    """Jobs sent and what became of them; ``pending`` are polled until done."""

    pending: dict[str, float] = field(default_factory=dict)  # id -> when sent (perf_counter)
    sent: int = 0
    refused: dict[int, int] = field(default_factory=dict)  # status -> count (503 busy / queue_full, retried)
    done: int = 0
    files_done: int = 0
    files_failed: int = 0
    gone: int = 0  # 404 before it was seen done: deleted by retention (a poll came too late)
    seconds: list[float] = field(default_factory=list)  # from sent to seen done


def upload(port: int, clips: Clips, n: int) -> Upload:
    body, headers = multipart_of([clips.wav(n)])
    for _ in range(20):
        status, data, wall = http_request(port, "POST", "/file-upload", body, headers, timeout=300)
        if status != 503:  # busy: another client's analyses filled the queue; try again as a client would
            break
        time.sleep(1.0)
    if status != 200:
        return Upload(status, wall)
    return Upload(status, wall, json.loads(data)["timing_ms"]["total"] / 1000)


def send_job(port: int, clips: Clips, first: int, files: int, jobs: Jobs) -> None:
    body, headers = multipart_of([clips.wav(first + i) for i in range(files)])
    while True:
        status, data, _ = http_request(port, "POST", "/jobs", body, headers, timeout=300)
        if status == 202:
            jobs.pending[json.loads(data)["id"]] = time.perf_counter()
            jobs.sent += 1
            return
        if status != 503:
            raise BenchError(f"POST /jobs answered {status}: {data[:300]!r}")
        jobs.refused[status] = jobs.refused.get(status, 0) + 1
        time.sleep(2.0)


def poll_jobs(port: int, jobs: Jobs) -> None:
    for job_id, sent in list(jobs.pending.items()):
        status, data, _ = http_request(port, "GET", f"/jobs/{job_id}", timeout=60)
        if status == 404:
            jobs.gone += 1
        elif status != 200:
            raise BenchError(f"GET /jobs/{job_id} answered {status}: {data[:300]!r}")
        else:
            view = json.loads(data)
            if view["status"] != "done":
                continue
            jobs.done += 1
            jobs.seconds.append(time.perf_counter() - sent)
            jobs.files_done += sum(f["status"] == "done" for f in view["files"])
            jobs.files_failed += sum(f["status"] == "failed" for f in view["files"])
        del jobs.pending[job_id]


def roles(web: WebServer) -> dict[str, list[int]]:
    """The web workers, the job pool's parent and the pool's workers, by pid."""
    found: dict[str, list[int]] = {"web": [], "pool": [], "pool workers": []}
    for pid in web.workers():
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"genrelens.jobs.pool" in command:
            found["pool"].append(pid)
            found["pool workers"] += children(pid)
        else:
            found["web"].append(pid)
    return found


def pool_ready(web: WebServer) -> bool:
    """Every worker of the job pool has loaded and warmed its models (each logs ``job worker <name> ready``):
    before that its RSS is not yet a worker's, and the machine is not yet quiet."""
    workers = roles(web)["pool workers"]
    return bool(workers) and len(re.findall(r"job worker \S+ ready", web.log_text())) >= len(workers)


def database_facts(path: Path) -> dict:
    """Bytes of the file and its WAL, its pages and free pages, and rows, through a read-only connection."""
    facts = {"db_mb": path.stat().st_size / 1048576,
             "wal_mb": (Path(f"{path}-wal").stat().st_size / 1048576) if Path(f"{path}-wal").exists() else 0.0}
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        facts["pages"] = connection.execute("PRAGMA page_count").fetchone()[0]
        facts["free"] = connection.execute("PRAGMA freelist_count").fetchone()[0]
        for name in COUNTED:
            facts[name] = connection.execute(f"SELECT count(*) FROM {name}").fetchone()[0]  # noqa: S608 -- our names
    finally:
        connection.close()
    return facts


def record(label: str, web: WebServer, started: float, uploads: list[Upload], jobs: Jobs) -> dict:
    """One row: where the run is, the database, every process's RSS, the window's latencies."""
    row = {"label": label, "elapsed_s": time.perf_counter() - started, "load": os.getloadavg()[0],
           "jobs_done": jobs.done, "jobs_sent": jobs.sent} | database_facts(web.sqlite_path)
    for role, pids in roles(web).items():
        row[role] = [memory_mb(pid)[0] or float("nan") for pid in pids]
    ok = [u for u in uploads if u.status == 200]
    row["n"], row["errors"] = len(uploads), len(uploads) - len(ok)
    walls = [u.wall_s * 1000 for u in ok]
    row["p50"], row["p95"] = percentile(walls, 50), percentile(walls, 95)
    row["outside"] = percentile([(u.wall_s - u.pipeline_s) * 1000 for u in ok], 50)
    progress(f"{label}: {row['db_mb']:.1f} MB + WAL {row['wal_mb']:.1f} MB, {row['free']}/{row['pages']} free pages, "
             f"{row['analyses']} analyses, {row['jobs']} jobs; RSS web {mb(row['web'])}, pool {mb(row['pool'])}, "
             f"workers {mb(row['pool workers'])}; p50/p95 {row['p50']:.0f}/{row['p95']:.0f} ms over {len(ok)}")
    return row


def mb(values: list[float]) -> str:
    return " / ".join(f"{v:.0f}" for v in values) or "-"


def soak(run: BenchRun, args) -> tuple[list[dict], Jobs, WebServer]:
    ttl = str(args.ttl)
    web = run.start(WebServer(run.tmp / "web", env={"JOB_TTL_S": ttl, "RESULT_TTL_S": ttl, "ANALYSIS_TTL_S": ttl}))
    progress(f"server: {display_command(web.command)}")
    web.wait_healthy(args.start_timeout)
    web.wait_until(lambda: pool_ready(web), args.start_timeout, "the job pool's workers not ready", 0.5)
    waited, idle = wait_until_idle({web.pid}, 0.3, args.start_timeout)
    progress(f"warm-up: {waited:.0f} s until idle" + ("" if idle else " (still busy; measuring anyway)"))
    clips = Clips(args.clip_seconds)
    jobs = Jobs()
    started = time.perf_counter()
    rows = [record("start", web, started, [], jobs)]
    job_at = sorted(round(j * args.uploads / max(1, args.jobs)) for j in range(args.jobs))  # after so many uploads
    next_take = args.uploads  # job takes follow the uploads' takes: never the same audio twice
    done_count, lock = [0], threading.Lock()

    def one(n: int) -> Upload:
        answer = upload(web.port, clips, n)
        with lock:
            done_count[0] += 1
        return answer

    with ThreadPoolExecutor(args.clients, thread_name_prefix="soak-client") as pool:
        for start in range(0, args.uploads, args.every):
            futures = [pool.submit(one, n) for n in range(start, min(args.uploads, start + args.every))]
            last_poll = 0.0
            while True:
                finished = all(f.done() for f in futures)
                while job_at and job_at[0] <= done_count[0]:
                    job_at.pop(0)
                    send_job(web.port, clips, next_take, args.files_per_job, jobs)
                    next_take += args.files_per_job
                if time.perf_counter() - last_poll > args.poll_s or finished:
                    web.check_alive()
                    poll_jobs(web.port, jobs)
                    last_poll = time.perf_counter()
                if finished:
                    break
                time.sleep(0.1)
            window = [f.result() for f in futures]
            rows.append(record(f"{start + len(window)} uploads", web, started, window, jobs))
    for _ in job_at:  # more jobs than uploads: the rest go in after the last upload
        send_job(web.port, clips, next_take, args.files_per_job, jobs)
        next_take += args.files_per_job
    deadline = time.perf_counter() + args.job_timeout
    while jobs.pending and time.perf_counter() < deadline:
        web.check_alive()
        poll_jobs(web.port, jobs)
        time.sleep(args.poll_s)
    if jobs.pending:
        raise BenchError(f"{len(jobs.pending)} jobs not done {args.job_timeout:g} s after the last upload\n"
                         f"{web.log_tail()}")
    rows.append(record("end: every job done", web, started, [], jobs))
    if args.settle > 0:
        progress(f"settling {args.settle:g} s with no traffic (the chores run every minute)")
        time.sleep(args.settle)
        rows.append(record(f"after {args.settle:g} s idle", web, started, [], jobs))
    return rows, jobs, web


def flat_rows(rows: list[dict], ttl: float) -> list[list[str]]:
    """Each measure's first value once the retention ran twice (2 x ttl + 2 minutes in) against its last
    under load and its highest in between."""
    loaded = [r for r in rows if r["n"]]
    steady = [r for r in loaded if r["elapsed_s"] >= 2 * ttl + 120]
    if len(steady) < 2:
        return [["(the run was too short to reach a steady state: fewer than two records after the retention ran"
                 " twice)", "", "", "", ""]]
    first, last = steady[0], steady[-1]

    def line(name: str, pick, unit: str, digits: int = 0) -> list[str]:
        values = [pick(r) for r in steady]
        a, b, top = values[0], values[-1], max(values)
        change = f"{(b - a) / a:+.0%}" if a else "n/a"
        return [name, f"{a:,.{digits}f} {unit}", f"{b:,.{digits}f} {unit}", f"{top:,.{digits}f} {unit}", change]

    out = [line("database + WAL", lambda r: r["db_mb"] + r["wal_mb"], "MB", 1),
           line("free pages", lambda r: 100 * r["free"] / max(1, r["pages"]), "%", 1),
           line("analyses kept", lambda r: r["analyses"], "")]
    for role in ("web", "pool", "pool workers"):
        for i in range(min(len(first[role]), len(last[role]))):
            out.append(line(f"RSS {role} {i + 1}", lambda r, role=role, i=i: r[role][i] if i < len(r[role])
                            else float("nan"), "MB"))
    out += [line("upload p50", lambda r: r["p50"], "ms"), line("upload p95", lambda r: r["p95"], "ms"),
            line("outside the pipeline p50", lambda r: r["outside"], "ms")]
    return out


def markdown(rows: list[dict], jobs: Jobs, run: BenchRun, args, web: WebServer) -> str:
    header = ["record", "time", "database + WAL (MB)", "free pages", "analyses / jobs kept", "RSS web (MB)",
              "RSS pool / its workers (MB)", "uploads (errors)", "p50 / p95 (ms)", "outside p50 (ms)", "load"]
    body = []
    for r in rows:
        body.append([r["label"], f"{r['elapsed_s'] / 60:.1f} min", f"{r['db_mb']:.1f} + {r['wal_mb']:.1f}",
                     f"{r['free']:,} / {r['pages']:,} ({100 * r['free'] / max(1, r['pages']):.0f} %)",
                     f"{r['analyses']:,} / {r['jobs']:,}", mb(r["web"]), f"{mb(r['pool'])} / {mb(r['pool workers'])}",
                     f"{r['n']} ({r['errors']})" if r["n"] else "-",
                     f"{r['p50']:.0f} / {r['p95']:.0f}" if r["n"] else "-",
                     f"{r['outside']:.0f}" if r["n"] else "-", f"{r['load']:.2f}"])
    job_s = sorted(jobs.seconds)
    lines = [
        "# Soak: a server under steady traffic with retention set short",
        "",
        "Written by `bench/bench_soak.py` (issue 25). The Procfile's server with the embedded job pool, "
        f"`JOB_TTL_S`, `RESULT_TTL_S` and `ANALYSIS_TTL_S` all {args.ttl:g} s; {args.clients} clients send "
        f"{args.uploads:,} `POST /file-upload` of {args.clip_seconds:g}-s WAVs (each a new take) while {args.jobs} "
        f"`POST /jobs` of {args.files_per_job} takes each go in, spread over the uploads, each polled until done. "
        f"A record every {args.every} uploads: the window's latencies are of the uploads since the record before.",
        "",
        run.date_line(), run.command_line(), run.code_line(), run.machine_line(),
        run.load_line("the machine was shared with other work: compare rows, not days" if run.busy() else ""),
        run.settings_line(SERVICE_ENV) + f"; answered by `{web.health.get('model', '?')}`",
        run.versions_line(versions(ffmpeg=False)),
        "",
        table(header, body),
        "",
        f"Jobs: {jobs.sent} sent, {jobs.done} seen done ({jobs.files_done} files done, {jobs.files_failed} failed), "
        f"{jobs.gone} deleted before a poll saw them done; POST /jobs refused with 503 and retried: "
        f"{sum(jobs.refused.values())} times. From sent to seen done: p50 {percentile(job_s, 50):.1f} s, "
        f"p95 {percentile(job_s, 95):.1f} s (polled every {args.poll_s:g} s).",
        "",
        "## Flat?",
        "",
        "Each measure's first record once the retention had run twice (2 x the TTL + 2 minutes in), its last record "
        "under load, and its highest in between:",
        "",
        table(["measure", "first steady", "last under load", "highest", "change"], flat_rows(rows, args.ttl)),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uploads", type=int, default=2000)
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--files-per-job", type=int, default=3)
    parser.add_argument("--clip-seconds", type=float, default=5.0, help="each take's length")
    parser.add_argument("--ttl", type=float, default=60.0, help="JOB_TTL_S, RESULT_TTL_S and ANALYSIS_TTL_S")
    parser.add_argument("--clients", type=int, default=2, help="upload clients at once")
    parser.add_argument("--every", type=int, default=200, help="uploads between records")
    parser.add_argument("--settle", type=float, default=150.0, help="idle seconds before the last record")
    parser.add_argument("--poll-s", type=float, default=2.0, help="how often pending jobs are polled")
    parser.add_argument("--start-timeout", type=float, default=300.0)
    parser.add_argument("--job-timeout", type=float, default=900.0, help="after the last upload, for the jobs")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "soak.md")
    parser.add_argument("--keep-temp", action="store_true")
    args = parser.parse_args(argv)
    with BenchRun("bench/bench_soak.py", argv if argv is not None else sys.argv[1:], args.keep_temp) as run:
        rows, jobs, web = soak(run, args)
        run.finish()
        text = markdown(rows, jobs, run, args, web)
    write_report(text, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

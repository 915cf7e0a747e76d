"""Library throughput in files per minute: batch jobs (embedded pool, Celery) against the local tagger and
one-at-a-time uploads, on this machine.

    .venv/bin/python bench/bench_jobs.py                  # from the repo root; 40 files, every configuration
    .venv/bin/python bench/bench_jobs.py --files 4 --configs embedded:1,celery:2   # a quick check

Configurations (``--configs``, comma-separated; the number is the workers / nodes):
  - ``baseline``: the Procfile's gunicorn with ``WEB_CONCURRENCY=1`` and ``JOB_WORKERS=0`` (no pool); the
    files sent one at a time to ``POST /file-upload`` by one client;
  - ``embedded:N``: the Procfile's gunicorn, ``WEB_CONCURRENCY=1`` (one web worker, the cores are the pool's)
    and ``JOB_WORKERS=N``: gunicorn's ``when_ready`` starts the local pool; SQLite in ``ANALYSIS_DIR``;
  - ``celery:N``: a ``redis-server`` started here on a free port (temp dir, no persistence), a SQLite file in
    a temp dir as ``DATABASE_URL``, the same gunicorn with ``BROKER_URL`` (so no pool) and N Celery worker
    nodes (``celery -A genrelens.jobs.celery_worker worker --concurrency 1``, each its own process group);
  - ``library:N``: ``python -m genrelens.library <dir> --out x.csv --workers N`` (no server, no database).

Every configuration gets fresh storage (its own ANALYSIS_DIR / database): the server answers audio it has
seen from its database, so a shared one would measure cache hits. For each server: start, ``/healthz`` 200,
a 1-file warm-up job (a file not in the set) until done, then until our processes are idle (every worker
process has loaded and warmed its models; ``--settle-cpu``), then the timed job: from the start of the
``POST /jobs`` of the N files until ``GET /jobs/<id>`` (every 0.2 s) says ``done``. Then the same N files
again as a second job: the cached rate (decode + hash + database only). The tagger is timed from process
start to exit (so model loading is in it), and also from the time its CSV had its first ``--workers``
rows to the last row (the steady rate, start-up excluded).

Audio: N distinct 30-s MP3s (44.1 kHz stereo, 192 kbit/s) mixed from tests/conftest.py's signals (chord,
clicks, four_on_the_floor, pad, piano, noise) with a different seed and mix per file, encoded by its
``write_audio``. Writes ``--out`` (bench/jobs.md) and prints it. Every process started is stopped with
SIGTERM to its process group (SIGKILL after a grace period) and the script checks that none is left.
"""
from __future__ import annotations

import argparse
import csv
import json
import resource
import statistics
import sys
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from harness import (ROOT, BenchError, BenchRun, CpuMeter, Process, RedisServer, WebServer, celery_node,
                     display_command, fmt, http_request, log_tails, machine, multipart, progress, session_processes,
                     table, tagger, versions, wait_until_idle, write_report)
from harness.facts import SERVICE_PACKAGES

sys.path.insert(0, str(ROOT / "tests"))

from conftest import SR, chord, clicks, four_on_the_floor, noise, pad, piano, write_audio  # noqa: E402

POLL_S = 0.2
SERVICE_ENV = ("DEFAULT_MODEL", "MUSICNN_THREADS", "MAX_ANALYSIS_SECONDS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
               "MKL_NUM_THREADS")
DEFAULT_CONFIGS = "baseline,embedded:1,embedded:2,celery:1,celery:2,library:1,library:2"


# --------------------------------------------------------------------------- audio


def mix(index: int, seconds: float = 30.0) -> np.ndarray:
    """A distinct, music-like mono signal (conftest's sample rate) for file ``index``."""
    rng = np.random.default_rng(10_000 + index)
    n = int(seconds * SR)
    key = float(110 * 2 ** (rng.integers(0, 12) / 12))
    melody = piano(10, seed=index)
    parts = {
        "chord": chord(seconds, root_hz=key, seed=index),
        "clicks": clicks(seconds, bpm=float(rng.uniform(80, 160)), seed=index),
        "four": four_on_the_floor(seconds, seed=index),
        "pad": pad(seconds, seed=index),
        "piano": np.tile(melody, int(np.ceil(n / len(melody))))[:n],  # piano() is quadratic in its length
        "noise": noise(seconds, seed=index),
    }
    lead = list(parts)[index % len(parts)]  # each file leans on another part
    weights = {name: rng.uniform(0.05, 0.5) for name in parts}
    weights |= {lead: rng.uniform(0.7, 1.0), "noise": rng.uniform(0.01, 0.08)}
    signal = sum(weights[name] * part[:n] for name, part in parts.items())
    return (0.9 * signal / max(1e-9, float(np.max(np.abs(signal))))).astype(np.float32)


def make_files(folder: Path, count: int) -> tuple[list[Path], Path]:
    """``count`` distinct 30-s MP3s in ``folder`` (the library's folder: nothing else goes there) and the
    warm-up file beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for i in range(count):
        files.append(write_audio(folder / f"track{i:03d}.mp3", mix(i), channels=2, bitrate="192k", out_sr=44100))
    warm_up = write_audio(folder.parent / "warm-up.mp3", mix(count + 1000), channels=2, bitrate="192k", out_sr=44100)
    return files, warm_up


# --------------------------------------------------------------------------- servers


def start_web(bench: BenchRun, workdir: Path, name: str, env: dict, max_upload_mb: float, **places) -> WebServer:
    """The Procfile's gunicorn with one web worker (the cores are the pool's), fresh storage, ``env`` on top."""
    settings = {"WEB_CONCURRENCY": "1", "MAX_UPLOAD_MB": f"{max_upload_mb:g}"} | env
    return bench.start(WebServer(workdir, f"{name} web server", env=settings, **places))


# --------------------------------------------------------------------------- measuring


@dataclass
class JobRun:
    files: int
    wall_s: float
    post_s: float  # the POST /jobs alone (upload of every file into the database), until the 202
    done: int
    failed: int
    cached: int
    cpu_s: float  # CPU of our processes (web, workers, broker) during the job
    others_cpu_s: float  # CPU the rest of the machine used meanwhile (other work; the bench's own excluded)
    errors: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.done * 60 / self.wall_s if self.wall_s > 0 else float("nan")


def run_job(web: WebServer, paths: list[Path], timeout_s: float, procs: list[Process]) -> JobRun:
    """POST the files as one job and poll it every POLL_S until done; the time from the POST's start."""
    body, headers = multipart(*paths)
    meter = CpuMeter({proc.pid for proc in procs})
    started = time.perf_counter()
    try:
        status, data, post_s = http_request(web.port, "POST", "/jobs", body, headers, timeout=min(timeout_s, 600))
    except OSError as exc:
        raise BenchError(f"POST /jobs of {len(paths)} files failed: {exc!r}\n{log_tails(procs)}") from exc
    if status != 202:
        raise BenchError(f"POST /jobs of {len(paths)} files answered {status}: {data[:500]!r}\n{log_tails(procs)}")
    job_id = json.loads(data)["id"]
    view: dict = {}
    last_ok = time.perf_counter()
    while True:
        try:
            status, data, _ = http_request(web.port, "GET", f"/jobs/{job_id}", timeout=30)
            if status != 200:
                raise BenchError(f"GET /jobs/{job_id} answered {status}: {data[:500]!r}\n{log_tails(procs)}")
            view, last_ok = json.loads(data), time.perf_counter()
        except (OSError, ValueError) as exc:
            if time.perf_counter() - last_ok > 30:
                raise BenchError(f"GET /jobs/{job_id} failing for 30 s: {exc!r}\n{log_tails(procs)}") from exc
        if view.get("status") == "done":
            break
        elapsed = time.perf_counter() - started
        if elapsed > timeout_s:
            counts = {k: view.get(k) for k in ("status", "total", "queued", "running", "done", "failed")}
            raise BenchError(f"job {job_id} ({len(paths)} files) not done after {timeout_s:g} s: {counts}\n"
                             + log_tails(procs))
        for proc in procs:
            proc.check_alive()
        time.sleep(POLL_S)
    wall = time.perf_counter() - started
    cpu = meter.ours()
    files = view["files"]
    errors = sorted({f"{f['error']['code']}: {f['error']['message']}" for f in files if f["status"] == "failed"})
    return JobRun(len(files), wall, post_s, sum(f["status"] == "done" for f in files),
                  sum(f["status"] == "failed" for f in files), sum(bool(f.get("cached")) for f in files),
                  cpu, meter.others(cpu), errors)


def database_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())


@contextmanager
def recorded(report: dict, bench: BenchRun, procs: list[Process]) -> Iterator[None]:
    """A configuration's failure goes into its report (the next configuration still runs); its processes are
    stopped afterwards whatever happened, and any left running is reported."""
    try:
        yield
    except BenchError as exc:
        report["error"] = str(exc)
        progress(f"{report['config']}: FAILED: {str(exc).splitlines()[0]}")
    finally:
        report["leftovers"] = bench.stop(*procs)
        if report["leftovers"]:
            progress(f"{report['config']}: processes left after stopping: {report['leftovers']}")


def job_config(kind: str, n: int, workdir: Path, paths: list[Path], warm_up: Path, args, bench: BenchRun) -> dict:
    """embedded:N or celery:N: start, warm up, the timed job, the cached job, stop."""
    report: dict = {"config": f"{kind}:{n}", "kind": kind, "workers": n}
    max_mb = max(50.0, 1.5 * sum(p.stat().st_size for p in paths) / 1e6 + 5)
    limits = {"JOB_MAX_FILES": str(max(500, len(paths))), "JOB_QUEUE_LIMIT": str(max(2000, 4 * len(paths)))}
    procs: list[Process] = []
    with recorded(report, bench, procs):
        if kind == "embedded":
            web = start_web(bench, workdir, report["config"], {"JOB_WORKERS": str(n)} | limits, max_mb)
            procs.append(web)
            report["database"] = "SQLite in ANALYSIS_DIR (fresh)"
        else:
            redis = bench.start(RedisServer(workdir / "redis"))
            procs.append(redis)
            broker = redis.wait_ready()
            database = workdir / "db" / "genrelens.sqlite3"
            database.parent.mkdir(mode=0o700, parents=True)  # private, or the service refuses it
            web = start_web(bench, workdir, report["config"], limits, max_mb, broker_url=broker,
                            database_url=f"sqlite:///{database}")
            procs.append(web)
            report["broker"] = broker
            report["database"] = "SQLite file in a temp dir, shared by web and nodes (fresh)"
        report["web_command"] = web.command
        progress(f"{report['config']}: {display_command(web.command)}")
        web.wait_healthy(args.start_timeout, poll_s=0.1)
        report["model"] = web.health.get("model")
        if kind == "celery":
            nodes = [bench.start(celery_node(web, i, workdir)) for i in range(1, n + 1)]
            procs += nodes
            report["node_command"] = nodes[0].command
        if kind == "embedded":
            time.sleep(0.5)
            pool = [cmd for cmd in session_processes({web.pid}).values() if "genrelens.jobs.pool" in cmd]
            if not pool:
                raise BenchError(f"no embedded pool (genrelens.jobs.pool) under gunicorn\n{web.log_tail()}")
        sessions = {proc.pid for proc in procs}

        progress(f"{report['config']}: warm-up job (1 file)")
        warm = run_job(web, [warm_up], args.start_timeout, procs)
        if warm.done != 1:
            raise BenchError(f"the warm-up file was not analysed: {warm.errors}\n{log_tails(procs)}")
        report["settle_s"], report["settled"] = wait_until_idle(sessions, args.settle_cpu, args.start_timeout)
        if not report["settled"]:
            progress(f"{report['config']}: our processes still busy after {args.start_timeout:g} s; measuring anyway")
        size0 = database_bytes(web.sqlite_path)

        progress(f"{report['config']}: timed job of {len(paths)} files")
        fresh = run_job(web, paths, args.job_timeout, procs)
        report["fresh"] = fresh
        report["db_bytes_per_file"] = (database_bytes(web.sqlite_path) - size0) / max(1, fresh.done)
        progress(f"{report['config']}: {fresh.done} done, {fresh.failed} failed in {fresh.wall_s:.1f} s "
                 f"= {fresh.rate:.1f} files/min (POST {fresh.post_s:.2f} s, {fresh.cached} answered from the database)")
        if fresh.cached:
            report.setdefault("warnings", []).append(
                f"{fresh.cached} of the {fresh.files} files of the timed job were answered from the database: "
                "the files are not distinct, so this is partly a cached rate")
        time.sleep(1.0)

        progress(f"{report['config']}: the same {len(paths)} files again (cached)")
        cached = run_job(web, paths, args.job_timeout, procs)
        report["cached"] = cached
        progress(f"{report['config']}: cached {cached.done} done in {cached.wall_s:.1f} s = {cached.rate:.1f} "
                 f"files/min ({cached.cached} answered from the database)")
        if cached.cached != cached.done:
            report.setdefault("warnings", []).append(
                f"second job: only {cached.cached} of {cached.done} files were answered from the database")
    return report


def baseline_config(workdir: Path, paths: list[Path], warm_up: Path, args, bench: BenchRun) -> dict:
    """One client, ``POST /file-upload`` one file after the other, on gunicorn --workers 1 without a pool."""
    report: dict = {"config": "baseline", "kind": "baseline", "workers": 1}
    procs: list[Process] = []
    with recorded(report, bench, procs):
        web = start_web(bench, workdir, "baseline", {"JOB_WORKERS": "0"}, 50)
        procs.append(web)
        report["web_command"] = web.command
        report["database"] = "SQLite in ANALYSIS_DIR (fresh)"
        progress(f"baseline: {display_command(web.command)}")
        web.wait_healthy(args.start_timeout, poll_s=0.1)
        report["model"] = web.health.get("model")
        bodies = {path: multipart(path) for path in [warm_up, *paths]}

        def send(path: Path) -> dict:
            try:
                status, data, _ = http_request(web.port, "POST", "/file-upload", *bodies[path],
                                               timeout=args.job_timeout)
            except OSError as exc:
                raise BenchError(f"POST /file-upload {path.name} failed: {exc!r}\n{web.log_tail()}") from exc
            if status != 200:
                raise BenchError(f"POST /file-upload {path.name} answered {status}: {data[:500]!r}\n"
                                 + web.log_tail())
            return json.loads(data)

        send(warm_up)
        report["settle_s"], report["settled"] = wait_until_idle({web.pid}, args.settle_cpu, args.start_timeout)
        for label in ("fresh", "cached"):
            progress(f"baseline: {len(paths)} uploads one at a time ({label})")
            meter = CpuMeter({web.pid})
            started = time.perf_counter()
            answers = [send(path) for path in paths]
            wall = time.perf_counter() - started
            cpu = meter.ours()
            run = JobRun(len(paths), wall, float("nan"), len(answers), 0, sum(bool(a.get("cached")) for a in answers),
                         cpu, meter.others(cpu))
            report[label] = run
            progress(f"baseline ({label}): {run.done} in {wall:.1f} s = {run.rate:.1f} files/min")
        if report["fresh"].cached:
            report.setdefault("warnings", []).append(
                f"{report['fresh'].cached} fresh uploads were answered from the database")
    return report


def library_config(n: int, workdir: Path, folder: Path, count: int, args, bench: BenchRun) -> dict:
    """``python -m genrelens.library <folder> --out x.csv --workers n``: wall time, and the CSV's rows as they come."""
    report: dict = {"config": f"library:{n}", "kind": "library", "workers": n}
    workdir.mkdir(parents=True, exist_ok=True)
    out = workdir / "results.csv"
    proc = tagger(folder, out, n, workdir)
    report["command"] = proc.command
    progress(f"library:{n}: {display_command(proc.command)}")
    rusage0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    meter = CpuMeter()
    started = time.perf_counter()
    bench.start(proc)
    row_times: list[float] = []  # seconds from the start when the CSV had 1, 2, ... rows
    with recorded(report, bench, [proc]):
        while True:
            try:
                rows = max(0, out.read_bytes().count(b"\n") - 1) if out.exists() else 0
            except OSError:
                rows = len(row_times)
            now = time.perf_counter() - started
            row_times.extend([now] * (rows - len(row_times)))
            code = proc.process.poll()
            if code is not None:
                break
            if now > args.job_timeout + args.start_timeout:
                raise BenchError(f"library --workers {n}: not finished after {now:.0f} s "
                                 f"({len(row_times)} of {count} rows)\n{proc.log_tail()}")
            time.sleep(0.05)
        wall = time.perf_counter() - started
        if code != 0:
            raise BenchError(f"library --workers {n} exited with {code}\n{proc.log_tail()}")
        with open(out, newline="", encoding="utf-8") as handle:
            statuses = [row["status"] for row in csv.DictReader(handle)]
        rusage = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (rusage.ru_utime - rusage0.ru_utime) + (rusage.ru_stime - rusage0.ru_stime)
        done = statuses.count("done")
        run = JobRun(len(statuses), wall, float("nan"), done, len(statuses) - done, 0, cpu, meter.others(cpu))
        report["fresh"] = run
        report["first_row_s"] = row_times[0] if row_times else float("nan")
        # Steady rate: after each worker's first file (the w-th row) to the last row, the files in between.
        w = min(n, len(row_times))
        if len(row_times) > w and row_times[-1] > row_times[w - 1]:
            report["steady_rate"] = (len(row_times) - w) * 60 / (row_times[-1] - row_times[w - 1])
        else:
            report["steady_rate"] = float("nan")
        summary = [line for line in proc.log_text().splitlines() if "files/min" in line]
        report["own_summary"] = summary[-1].strip() if summary else ""
        if len(statuses) != count:
            report.setdefault("warnings", []).append(f"the CSV has {len(statuses)} rows for {count} files")
        progress(f"library:{n}: {done} done in {wall:.1f} s = {run.rate:.1f} files/min wall; first row after "
                 f"{report['first_row_s']:.1f} s; steady {report['steady_rate']:.1f} files/min")
    return report


# --------------------------------------------------------------------------- the report


LABELS = {
    "baseline": "baseline: `POST /file-upload` one file at a time, 1 client (gunicorn --workers 1, no pool)",
    "embedded": "embedded pool, `JOB_WORKERS={n}` (gunicorn --workers 1)",
    "celery": "Celery, {n} worker node(s) × `--concurrency 1` (redis-server, SQLite)",
    "library": "library tagger `python -m genrelens.library --workers {n}` (wall time, includes start-up)",
}


def label(report: dict) -> str:
    return LABELS[report["kind"]].format(n=report["workers"])


def nan() -> float:
    return float("nan")


def rate_of(report: dict, which: str = "fresh") -> float:
    run = report.get(which)
    return run.rate if run and not report.get("error") else nan()


def result_rows(reports: list[dict], baseline: float) -> list[list[str]]:
    rows = []
    for r in reports:
        run: JobRun | None = r.get("fresh")
        if r.get("error") or run is None:
            rows.append([label(r), "**failed**", "", "", "", "", "", "see below"])
            continue
        relative = f"{run.rate / baseline:.2f}×" if baseline == baseline and baseline > 0 else "n/a"
        extra = []
        if r["kind"] == "library":
            extra.append(f"start-up excluded: **{fmt(r['steady_rate'], 1)}** files/min (rows after the first "
                         f"{r['workers']}); first row after {fmt(r['first_row_s'], 1)} s")
        if r["kind"] in ("embedded", "celery"):
            extra.append(f"POST /jobs (upload into the database) {run.post_s:.2f} s")
        if run.failed:
            extra.append(f"{run.failed} failed")
        rows.append([
            label(r), f"{run.done}/{run.files}", f"{run.wall_s:.1f}", f"**{run.rate:.1f}**", relative,
            f"{run.cpu_s / max(1, run.done):.2f}", f"{run.others_cpu_s / run.wall_s:.2f}" if run.wall_s else "n/a",
            "; ".join(extra) or "",
        ])
    return rows


def cached_rows(reports: list[dict]) -> list[list[str]]:
    rows = []
    for r in reports:
        run: JobRun | None = r.get("cached")
        if r.get("error") or run is None:
            continue
        rows.append([label(r).split(" (")[0], f"{run.done}/{run.files}", f"{run.cached}", f"{run.wall_s:.1f}",
                     f"**{run.rate:.1f}**", f"{run.cpu_s / max(1, run.done):.2f}"])
    return rows


def estimate_section(reports: list[dict], info: dict, avg_mb: float) -> list[str]:
    by = {r["config"]: r for r in reports}
    two, one = by.get("celery:2"), by.get("celery:1")
    lines = ["## Estimate for N machines (a linear extrapolation)", ""]
    if not two or two.get("error") or "fresh" not in two:
        return lines + ["Not computed: the 2-node Celery configuration was not measured (or failed).", ""]
    rate2 = two["fresh"].rate
    per_core = rate2 / 2
    cores_here = int(info["nproc"]) if info["nproc"].isdigit() else 1
    lines += [
        f"Per core: the 2-node Celery rate ({rate2:.1f} files/min; 2 nodes × `--concurrency 1` = 2 worker processes, "
        f"one core each) / 2 = **{per_core:.1f} files/min per core**. On this machine those 2 nodes shared its "
        f"{cores_here} CPUs with the web node, redis-server, the bench and whatever else ran (see the `others` "
        "column), so a worker with a core to itself is likely faster.",
        "",
    ]
    if one and not one.get("error") and "fresh" in one:
        efficiency = rate2 / (2 * one["fresh"].rate) if one["fresh"].rate else nan()
        lines += [f"Measured here, 1 → 2 nodes: {one['fresh'].rate:.1f} → {rate2:.1f} files/min "
                  f"({fmt(efficiency * 100)} % of double).", ""]
    rows = [[str(n), str(n * cores_here), f"{n * cores_here * per_core:,.0f}", f"{n * cores_here * per_core * 60:,.0f}"]
            for n in (1, 2, 4, 8, 16)]
    lines += [f"Worker machines like this one ({cores_here} cores each, one node per machine with `--concurrency "
              f"{cores_here}`), assuming every core adds the per-core rate:", "",
              table(["worker machines", "cores", "files/min", "files/hour"], rows), ""]
    post = two["fresh"]
    ingest = post.files * avg_mb / post.post_s if post.post_s > 0 else nan()
    db_mb = two.get("db_bytes_per_file", nan()) / 1e6
    lines += [
        "This is **a linear extrapolation, not a measurement**: it holds only while nothing shared saturates. "
        "What bounds it:",
        "",
        f"- **The web node's upload bandwidth.** Every file comes in through a web node (`POST /jobs`) and is written "
        f"into the database before any worker sees it. Measured here on loopback: {post.files} files "
        f"({post.files * avg_mb:.1f} MB) in {post.post_s:.2f} s = {fmt(ingest, 1)} MB/s into SQLite, i.e. at most "
        f"about {fmt(ingest * 60 / avg_mb if avg_mb else nan())} files/min through one web node even with no network "
        f"in between; a real network (the files are {avg_mb:.2f} MB each) is slower than loopback. More web nodes "
        "(stateless) raise this.",
        f"- **The shared database.** Each file is written in (its bytes), read back by a worker, claimed, and its "
        f"result and decoded signal (for the pictures) stored: the database grew {fmt(db_mb, 2)} MB per file here "
        "(the uploaded bytes are deleted once analysed). SQLite takes one writer at a time and serves one "
        "machine only; across machines it has to be PostgreSQL (the tests run this same path on PostgreSQL: "
        "tests/test_celery_jobs.py), whose write rate was not measured here.",
        "- **The broker.** One small message per file (no payload: the bytes are in the database); redis-server "
        "was not the bottleneck on this scale, but it is one process shared by every node.",
        "- Not in the rate: each worker process loads and warms the models when it starts (seconds, once).",
        "",
    ]
    return lines


def markdown(reports: list[dict], bench: BenchRun, meta: dict) -> str:
    info = machine()
    base = next((r for r in reports if r["kind"] == "baseline"), None)
    baseline = rate_of(base) if base else nan()
    models = sorted({r["model"] for r in reports if r.get("model")})
    others = [r[k].others_cpu_s / r[k].wall_s for r in reports for k in ("fresh", "cached")
              if isinstance(r.get(k), JobRun) and r[k].wall_s > 0]
    busy = bench.busy() or max(others, default=0.0) > 0.25
    lines = [
        "# Library throughput: batch jobs, the local tagger and one-at-a-time uploads",
        "",
        "Written by `bench/bench_jobs.py`. Files per minute through each way of classifying a library, on one "
        "machine; re-run it on a quiet machine for numbers worth comparing.",
        "",
        bench.date_line(),
        bench.command_line(),
        bench.code_line(),
        bench.machine_line(info),
        bench.load_line("**other work was running: the rates are noisy and pessimistic**" if busy else ""),
        bench.versions_line(versions((*SERVICE_PACKAGES, "celery", "redis", "sqlalchemy")),
                            f", redis-server {RedisServer.version()}"),
        f"- **Audio:** {meta['files']} distinct 30-s MP3s (44.1 kHz stereo, 192 kbit/s, {meta['avg_mb']:.2f} MB each "
        "on average), mixes of tests/conftest.py's chord / clicks / four_on_the_floor / pad / piano / noise with a "
        "seed and mix of their own, encoded by its `write_audio`; one more such file for the warm-up jobs.",
        bench.settings_line(SERVICE_ENV) + f"; answered by `{', '.join(models) or '?'}`. Job workers and the tagger "
        "run LiteRT on one thread per process; the baseline's web worker uses `MUSICNN_THREADS` (default 2). Job "
        "workers and the tagger's workers also run numpy's math libraries on one thread "
        "(OMP/OPENBLAS/MKL_NUM_THREADS=1 unless the environment says otherwise: genrelens/threads.py); the web "
        "server takes them from the environment.",
        "",
        "## Fresh files (every configuration on fresh storage)",
        "",
        table(["configuration", "files done", "wall s", "files/min", "vs baseline", "our CPU s per file",
               "others' CPUs busy (avg)", "notes"], result_rows(reports, baseline)),
        "",
        "**Jobs:** from the start of the `POST /jobs` of all the files (the upload included) until `GET /jobs/<id>` "
        f"(polled every {POLL_S:g} s) said `done`, after a 1-file warm-up job and after every worker process was "
        "idle (models loaded and warmed); the end is known to within one poll, and the embedded pool's idle workers "
        "look for work every `IDLE_POLL_S` (genrelens/jobs/pool.py), which delays the first claim. "
        "**Baseline:** the sum of the sequential uploads after one warm-up upload. "
        "**Tagger:** the whole command, from process start to exit, so loading the models in each worker process is "
        "in the wall figure; the start-up-excluded rate counts the rows after the first `--workers` rows of the CSV "
        "over the time from that row to the last (rows are appended as files finish). "
        "`our CPU s per file`: CPU of the processes of that configuration (web, workers, ffmpeg, broker; for the "
        "tagger the whole run, start-up included) per file; it moves far less than wall time when other work shares "
        "the machine. `others' CPUs busy`: the rest of the machine's CPU use during the run, in CPUs.",
        "",
        "Storage: each server configuration had its own new `ANALYSIS_DIR` and database, so nothing was answered "
        "from an earlier configuration (the `cached` count of every timed job is checked, see warnings). Embedded and "
        "baseline: SQLite in `ANALYSIS_DIR`. Celery: a `redis-server` started by the bench on a free port in a temp "
        "dir (no persistence) as broker and a SQLite file in a temp dir as `DATABASE_URL`, shared by the web node and "
        "the worker nodes on this machine; the tests run the same path on PostgreSQL (tests/test_celery_jobs.py).",
        "",
        "## Cached: the same files a second time (answered from the database)",
        "",
        table(["configuration", "files done", "answered from the database", "wall s", "files/min (cached)",
               "our CPU s per file"], cached_rows(reports)),
        "",
        "Measured right after the fresh run on the same server: a new job (or new uploads) of the same files. Each is "
        "still uploaded, decoded and hashed; only the analysis is skipped. This is **not** a library rate for new "
        "music.",
        "",
    ]
    lines += estimate_section(reports, info, meta["avg_mb"])
    lines += ["## Commands", ""]
    for r in reports:
        parts = [f"- **{r['config']}**:"]
        if "web_command" in r:
            env = {"baseline": "JOB_WORKERS=0 ", "embedded": f"JOB_WORKERS={r['workers']} ",
                   "celery": "BROKER_URL=redis://127.0.0.1:<port>/0 DATABASE_URL=sqlite:////<tmp>/genrelens.sqlite3 "}
            env = "WEB_CONCURRENCY=1 " + env[r["kind"]]
            parts.append(f"`{env}{display_command(r['web_command'])}`")
        if "node_command" in r:
            node = display_command(r["node_command"]).replace("node1@", "nodeN@")
            parts.append(f"+ {r['workers']} × `{node}`")
        if "command" in r:
            parts.append(f"`{display_command(r['command'], Path(meta['tmp']))}`")
        if "settle_s" in r:
            never = "" if r.get("settled") else ", **never idle**"
            parts.append(f"(idle {r['settle_s']:.0f} s after the warm-up{never})")
        if r.get("own_summary"):
            parts.append(f"; its own summary: \"{r['own_summary']}\"")
        lines.append(" ".join(parts))
    lines.append("")
    warnings = [(r["config"], w) for r in reports for w in r.get("warnings", [])]
    warnings += [(r["config"], f"processes left running after the stop (killed): {r['leftovers']}")
                 for r in reports if r.get("leftovers")]
    if meta["leftovers"]:
        warnings.append(("end", f"processes left at the end (killed): {meta['leftovers']}"))
    lines += ["## Checks", "",
              "Every process the bench started (gunicorn and its pool, Celery nodes, redis-server, the tagger and its "
              "workers) was stopped with SIGTERM to its process group; " +
              ("**some were left running (see below)**." if warnings and any('left' in w for _, w in warnings)
               else "none was left running afterwards (checked by session id in /proc)."), ""]
    for config, warning in warnings:
        lines.append(f"- **{config}:** {warning}")
    failures = [r for r in reports if r.get("error")]
    for r in failures:
        lines += ["", f"### {r['config']} failed", "", "```", r["error"][-4000:], "```"]
    return "\n".join(lines).rstrip() + "\n"


# --------------------------------------------------------------------------- main


def parse_configs(text: str) -> list[tuple[str, int]]:
    configs = []
    for item in (part.strip() for part in text.split(",") if part.strip()):
        kind, _, number = item.partition(":")
        if kind not in LABELS or (kind == "baseline") != (number == ""):
            raise ValueError(item)
        n = int(number) if number else 1
        if n < 1:
            raise ValueError(item)
        configs.append((kind, n))
    return configs


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=40, help="distinct 30-s MP3s in the library (default 40)")
    parser.add_argument("--configs", default=DEFAULT_CONFIGS,
                        help=f"comma-separated, in order (default {DEFAULT_CONFIGS}); N = workers or nodes")
    parser.add_argument("--job-timeout", type=float, help="seconds a timed run may take (default 120 + 30 per file)")
    parser.add_argument("--start-timeout", type=float, default=240,
                        help="seconds for a server to answer /healthz, for the warm-up, and to go idle")
    parser.add_argument("--settle-cpu", type=float, default=0.15,
                        help="idle = our processes used less than this many CPU-seconds in 1 s")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "jobs.md")
    parser.add_argument("--keep-temp", action="store_true", help="keep the temp dir (audio, logs, databases)")
    args = parser.parse_args(argv)
    try:
        configs = parse_configs(args.configs)
    except ValueError as exc:
        parser.error(f"bad configuration {exc}: use baseline, embedded:N, celery:N or library:N")
    if args.files < 1:
        parser.error("--files must be at least 1")
    args.job_timeout = args.job_timeout or 120 + 30 * args.files

    reports: list[dict] = []
    try:
        with BenchRun("bench/bench_jobs.py", argv, keep_temp=args.keep_temp) as bench:
            progress(f"making {args.files} distinct 30-s MP3s in {bench.tmp}")
            library_dir = bench.tmp / "audio" / "library"
            paths, warm_up = make_files(library_dir, args.files)
            avg_mb = statistics.fmean(p.stat().st_size for p in paths) / 1e6
            for kind, n in configs:
                workdir = bench.tmp / f"{kind}-{n}"
                if kind == "baseline":
                    reports.append(baseline_config(workdir, paths, warm_up, args, bench))
                elif kind == "library":
                    reports.append(library_config(n, workdir, library_dir, len(paths), args, bench))
                else:
                    reports.append(job_config(kind, n, workdir, paths, warm_up, args, bench))
    except KeyboardInterrupt:
        progress("interrupted")
        return 130
    except Exception:  # noqa: BLE001 -- a bug here: every process is stopped, the temp dir kept; say where
        traceback.print_exc()
        return 1
    meta = {"files": args.files, "avg_mb": avg_mb, "tmp": str(bench.tmp), "leftovers": bench.leftovers}
    write_report(markdown(reports, bench, meta), args.out)
    return 1 if any(r.get("error") for r in reports) else 0


if __name__ == "__main__":
    sys.exit(main())

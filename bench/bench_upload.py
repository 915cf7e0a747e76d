"""Benchmark of the real server: start it exactly as the Procfile does and time what a user waits for.

    .venv/bin/python bench/bench_upload.py            # from the repo root; about 2-4 minutes
    .venv/bin/python bench/bench_upload.py --rounds 30 --cold-starts 5

What it does (issue 5; the targets are issue 12's), all against 127.0.0.1 only:
  1. makes its own audio with numpy + ffmpeg in a temp dir: a 30-s and a 5-min MP3 (44.1 kHz stereo,
     192 kbit/s) and a 30-s WAV of synthetic, music-like signal (chords, bass, melody, drums; every bar
     different so the encoder has real work to do), one copy per upload, each with its own inaudible
     noise: the server answers audio it has seen before from its database;
  2. cold start, several times: the Procfile's ``web:`` command (PORT -> a free port, bound to
     127.0.0.1, WEB_CONCURRENCY from the environment or the Procfile default, the venv's gunicorn, its
     own ANALYSIS_DIR / UPLOAD_DIR, no job pool: ``JOB_WORKERS=0``) from process start until ``/healthz``
     answers, and the first uploads;
  3. latency: ``--rounds`` uploads of each kind (interleaved), p50/p95 and the mean of the server's
     own ``timing_ms``; also the server CPU per upload (from /proc), which is far less noisy than
     wall time on a shared machine; the RSS of every worker after every upload;
  4. pictures: fresh uploads, then each PNG kind in page order (first render), then again (cached);
  5. throughput: ``--clients`` threads sending ``--concurrent-uploads`` 30-s MP3 uploads;
  6. that no TensorFlow library is mapped in the master or any worker (/proc/<pid>/maps).
It writes ``bench/results.md`` (machine, versions, date, command, the table against the targets) and
prints the same table. The server is started, timed and always stopped by bench/harness; the audio is its too.
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path

from harness import ROOT, BenchRun, WebServer, concurrently, display_command, fmt, http_request, machine, make_audio
from harness import UPLOAD_FILES as FILES
from harness import mapped_libraries, memory_mb, multipart, progress, table, verdict, versions, write_report
from harness import percentile as pct

PICTURES = ("waveform", "spectrogram", "mel_spectrogram", "mfcc")  # the page's order
SERVICE_ENV = ("DEFAULT_MODEL", "MODEL_RUNTIME", "MUSICNN_THREADS", "WEB_CONCURRENCY")
TENSORFLOW = re.compile(r"libtensorflow|/site-packages/tensorflow/|/site-packages/tf_keras/")


class FreshBodies:
    """A multipart body of a copy not uploaded before, per call."""

    def __init__(self, files: dict[str, list[Path]]):
        self._left = {kind: [multipart(path) for path in paths] for kind, paths in files.items()}

    def __getitem__(self, kind: str) -> tuple[bytes, dict]:
        if not self._left[kind]:
            raise RuntimeError(f"no fresh copy of {kind} left: make_audio's counts are too small")
        return self._left[kind].pop()


@dataclass
class Upload:
    kind: str
    status: int
    seconds: float
    result: dict = field(default_factory=dict)
    cpu_s: float | None = None  # server CPU (workers + their ffmpeg children) spent on it

    @property
    def ok(self) -> bool:
        return self.status == 200


# --------------------------------------------------------------------------- measuring


def upload(server: WebServer, body: tuple[bytes, dict], kind: str, measure_cpu: bool = False) -> Upload:
    before = server.cpu() if measure_cpu else 0.0
    try:
        status, data, seconds = http_request(server.port, "POST", "/file-upload", *body)
    except OSError as exc:
        progress(f"upload {kind} failed: {exc!r}")
        return Upload(kind, 0, float("nan"))
    try:
        result = json.loads(data)
    except ValueError:
        result = {}
    if status != 200:
        progress(f"upload {kind}: HTTP {status}: {data[:300]!r}")
    cpu = server.cpu() - before if measure_cpu else None
    return Upload(kind, status, seconds, result, cpu)


def sample_memory(server: WebServer) -> dict[int, tuple[float | None, float | None]]:
    return {pid: memory_mb(pid) for pid in server.workers()}


def run(args: argparse.Namespace, bench: BenchRun) -> dict:
    tmp, report = bench.tmp, {}
    sequential = max(args.rounds * len(FILES), args.memory_uploads)
    counts = {"mp3_30": 2 * args.cold_starts + sequential + args.png_analyses + args.concurrent_uploads,
              "wav_30": args.rounds, "mp3_300": args.rounds + args.png_analyses_long}
    progress(f"making audio (numpy + ffmpeg): {sum(counts.values())} distinct files")
    files = make_audio(tmp / "audio", counts)
    bodies = FreshBodies(files)
    report["files"] = {kind: {"bytes": paths[0].stat().st_size, "name": paths[0].name, "copies": len(paths)}
                       for kind, paths in files.items()}

    # ---- cold starts
    cold = []
    server = None
    for i in range(args.cold_starts):
        # no job pool beside the web workers: bench/bench_jobs.py measures jobs
        server = WebServer(tmp / f"server{i}", f"server{i}", env={"JOB_WORKERS": "0"})
        progress(f"cold start {i + 1}/{args.cold_starts}: {display_command(server.command)}")
        bench.start(server)
        healthy = server.wait_healthy()
        first = upload(server, bodies["mp3_30"], "mp3_30")
        second = upload(server, bodies["mp3_30"], "mp3_30")
        cold.append({"healthz_s": healthy, "first_ms": first.seconds * 1000, "first_ok": first.ok,
                     "second_ms": second.seconds * 1000, "workers": len(server.workers())})
        progress(f"  /healthz after {healthy:.2f} s, first upload {first.seconds * 1000:.0f} ms, "
                 f"second {second.seconds * 1000:.0f} ms")
        if i < args.cold_starts - 1:
            bench.stop(server)
    report["cold"] = cold
    report["command"] = server.command
    report["workers"] = server.workers()

    # ---- latency (+ memory after every upload)
    memory = {"start": sample_memory(server), "series": []}
    uploads: list[Upload] = []
    progress(f"latency: {args.rounds} rounds of {', '.join(FILES)}")
    for r in range(args.rounds):
        for kind in FILES:
            uploads.append(upload(server, bodies[kind], kind, measure_cpu=True))
            memory["series"].append(sample_memory(server))
        if r % 5 == 4:
            progress(f"  round {r + 1}/{args.rounds}")
    while len(memory["series"]) < args.memory_uploads:  # only if --rounds is small
        uploads.append(upload(server, bodies["mp3_30"], "mp3_30", measure_cpu=True))
        memory["series"].append(sample_memory(server))
    report["uploads"] = uploads
    answered = [u.result for u in uploads if u.ok]
    report["model"] = answered[0].get("model", {}).get("name") if answered else None
    report["segments"] = {u.kind: len(u.result.get("segments", [])) for u in uploads if u.ok}

    # ---- pictures, on fresh analyses, in the page's order; then the same again (cached)
    pictures = []
    progress(f"pictures: {args.png_analyses} fresh 30-s MP3 and {args.png_analyses_long} fresh 5-min MP3 analyses")
    for kind in ["mp3_30"] * args.png_analyses + ["mp3_300"] * args.png_analyses_long:
        done = upload(server, bodies[kind], kind)
        memory["series"].append(sample_memory(server))
        if not done.ok:
            continue
        images = done.result.get("images") or {p: f"/analyses/{done.result['id']}/{p}.png" for p in PICTURES}
        for picture in PICTURES:
            status, data, first = http_request(server.port, "GET", images[picture])
            status2, _, cached = http_request(server.port, "GET", images[picture])
            ok = status == 200 and status2 == 200 and data[:8] == b"\x89PNG\r\n\x1a\n"
            pictures.append({"file": kind, "picture": picture, "first_ms": first * 1000, "cached_ms": cached * 1000,
                             "ok": ok, "bytes": len(data)})
    report["pictures"] = pictures
    memory["after_sequential"] = sample_memory(server)

    # ---- throughput: N clients, 30-s MP3
    progress(f"throughput: {args.clients} clients, {args.concurrent_uploads} uploads of the 30-s MP3")
    cpu_before = server.cpu()
    results, wall = concurrently(lambda: upload(server, bodies["mp3_30"], "mp3_30"), args.concurrent_uploads,
                                 args.clients)
    report["throughput"] = {"clients": args.clients, "uploads": len(results), "wall_s": wall,
                            "ok": sum(r.ok for r in results), "errors": sum(not r.ok for r in results),
                            "latencies_ms": [r.seconds * 1000 for r in results],
                            "server_cpu_s": server.cpu() - cpu_before}
    memory["after_throughput"] = sample_memory(server)
    report["memory"] = memory

    # ---- TensorFlow never mapped
    pids = [server.process.pid, *server.workers()]
    libraries = {pid: mapped_libraries(pid) for pid in pids}
    report["tensorflow"] = {pid: sorted(l for l in libs if TENSORFLOW.search(l)) for pid, libs in libraries.items()}
    report["litert"] = {pid: any("ai_edge_litert" in l for l in libs) for pid, libs in libraries.items()}
    report["master_memory"] = memory_mb(server.process.pid)
    report["server_log_errors"] = [l for l in server.log_text().splitlines()
                                   if re.search(r"\[(ERROR|CRITICAL)\]|Traceback|WORKER TIMEOUT", l)][-10:]
    bench.stop(server)
    bench.finish()
    return report


# --------------------------------------------------------------------------- the report


def summarize(report: dict) -> tuple[list[list[str]], dict]:
    """The headline rows (metric, measured, target, verdict) and the numbers behind them."""
    ups: list[Upload] = report["uploads"]
    by_kind = {kind: [u for u in ups if u.kind == kind] for kind in FILES}
    lat = {kind: [u.seconds * 1000 for u in lst if u.ok] for kind, lst in by_kind.items()}
    p50_30, p95_30 = pct(lat["mp3_30"], 50), pct(lat["mp3_30"], 95)
    p50_300 = pct(lat["mp3_300"], 50)
    cold = report["cold"]
    worst_cold = max(c["healthz_s"] for c in cold)
    worst_first = max(c["first_ms"] for c in cold)
    series = report["memory"]["series"]
    n50 = min(50, len(series))
    pids = sorted({pid for sample in series for pid in sample})

    def rss_at(index: int, pid: int) -> float:
        value = series[index].get(pid, (None, None))[0] if series else None
        return float("nan") if value is None else value

    def peak(samples: list[dict], pid: int | None = None) -> float:
        values = [v[0] for s in samples for p, v in s.items() if (pid is None or p == pid) and v[0] is not None]
        return max(values, default=float("nan"))

    rss_end50 = max((rss_at(n50 - 1, pid) for pid in pids), default=float("nan"))
    everything = [*series, report["memory"]["after_sequential"], report["memory"]["after_throughput"]]
    rss_peak = peak(everything)
    half = n50 // 2
    # High-water mark per worker, first half vs second half of the 50 uploads: RSS jumps up and down with
    # the 5-min uploads (the allocator hands big arrays back), so a leak shows as a rising high-water mark.
    growth = max((peak(series[half:n50], pid) - peak(series[:half], pid) for pid in pids), default=float("nan"))
    hw_first, hw_second = peak(series[:half]), peak(series[half:n50])
    firsts = {p: [x["first_ms"] for x in report["pictures"] if x["picture"] == p and x["ok"]] for p in PICTURES}
    cached = {p: [x["cached_ms"] for x in report["pictures"] if x["picture"] == p and x["ok"]] for p in PICTURES}
    worst_first_png = max((pct(v, 95) for v in firsts.values()), default=float("nan"))
    worst_first_png_kind = max(firsts, key=lambda p: pct(firsts[p], 95)) if firsts else "?"
    worst_cached_png = max((pct(v, 95) for v in cached.values()), default=float("nan"))
    tp = report["throughput"]
    rate = tp["ok"] / tp["wall_s"] if tp["wall_s"] else float("nan")
    tf_hits = sum(len(v) for v in report["tensorflow"].values())
    bad_pictures = sum(not x["ok"] for x in report["pictures"])
    seq_errors = sum(not u.ok for u in ups)

    rows = [
        ["30-s MP3 upload, p50", f"{fmt(p50_30)} ms", "≤ 120 ms", verdict(p50_30, 120, "ms")],
        ["30-s MP3 upload, p95", f"{fmt(p95_30)} ms", "≤ 200 ms", verdict(p95_30, 200, "ms")],
        ["5-min MP3 upload, p50", f"{fmt(p50_300)} ms", "≤ 600 ms", verdict(p50_300, 600, "ms")],
        ["30-s WAV upload, p50 / p95", f"{fmt(pct(lat['wav_30'], 50))} / {fmt(pct(lat['wav_30'], 95))} ms", "–", "–"],
        [f"cold start to /healthz (worst of {len(cold)})",
         " / ".join(f"{c['healthz_s']:.2f}" for c in cold) + " s", "≤ 3 s", verdict(worst_cold, 3, "s")],
        [f"first upload after cold start (worst of {len(cold)})",
         " / ".join(f"{c['first_ms']:.0f}" for c in cold) + f" ms = {worst_first / p50_30:.1f}× p50",
         f"≤ 2× p50 = {fmt(2 * p50_30)} ms", verdict(worst_first, 2 * p50_30, "ms")],
        [f"worker RSS after {n50} uploads (max worker); peak over the whole run",
         f"{fmt(rss_end50)} MB; peak {fmt(rss_peak)} MB", "< 400 MB", verdict(max(rss_end50, rss_peak), 400, "MB")],
        [f"worker RSS high-water, uploads 1–{half} vs {half + 1}–{n50} (worst worker)",
         f"{fmt(hw_first)} → {fmt(hw_second)} MB ({growth:+.1f} MB)", "flat (≤ +10 MB)", verdict(growth, 10, "MB")],
        ["TensorFlow libraries mapped (master + workers)", "none" if not tf_hits else f"{tf_hits} found", "none",
         "met" if not tf_hits else "**missed**"],
        [f"first PNG render, p95 over {max((len(v) for v in firsts.values()), default=0)} fresh analyses (worst kind)",
         f"{fmt(worst_first_png)} ms ({worst_first_png_kind})", "≤ 500 ms", verdict(worst_first_png, 500, "ms")],
        ["cached PNG, p95 (worst kind)", f"{fmt(worst_cached_png, 1)} ms", "≤ 20 ms", verdict(worst_cached_png, 20, "ms")],
        [f"{tp['clients']} concurrent clients, 30-s MP3", f"{rate:.2f} uploads/s", "≥ 10 uploads/s",
         verdict(rate, 10, "uploads/s", higher_is_better=True)],
        [f"errors under load ({tp['uploads']} uploads)", str(tp["errors"]), "0",
         "met" if tp["errors"] == 0 else "**missed**"],
    ]
    extra = {"lat": lat, "by_kind": by_kind, "firsts": firsts, "cached": cached, "pids": pids, "rate": rate,
             "bad_pictures": bad_pictures, "seq_errors": seq_errors, "p50_30": p50_30}
    return rows, extra


def markdown(report: dict, args: argparse.Namespace, bench: BenchRun) -> str:
    rows, x = summarize(report)
    mach = machine()
    out = [
        "# Upload benchmark (issues 5 and 12)",
        "",
        "Written by `bench/bench_upload.py`; re-run it on a quiet machine for numbers worth comparing.",
        "",
        bench.date_line(),
        bench.command_line(),
        f"- **Server:** `{display_command(report['command'])}` "
        f"(the Procfile's `web:` line; {len(report['workers'])} workers)",
        bench.code_line(),
        bench.settings_line(SERVICE_ENV) + f"; the uploads were answered by `{report.get('model', '?')}`, which "
        f"heard every one of the {report.get('segments', {}).get('mp3_30', '?')} segments of the 30-s and the "
        f"{report.get('segments', {}).get('mp3_300', '?')} of the 5-min file",
        bench.machine_line(mach),
        bench.load_line("**the machine was busy with other work: wall-clock numbers are noisy and pessimistic**"
                        if bench.busy() else ""),
        bench.versions_line(versions()),
        "- **Audio:** synthetic music made by the script (chords, bass, melody, drums), 44.1 kHz stereo: "
        + ", ".join(f"{FILES[k][0]} {v['bytes'] / 1e6:.1f} MB ({v['copies']} distinct copies)" for k, v in report["files"].items())
        + " (MP3: libmp3lame CBR 192 kbit/s; WAV: 16-bit PCM)",
        "",
        "## Against the targets",
        "",
        table(["metric", "measured", "target", "verdict"], rows),
        "",
        "Latency = client wall time of one request over loopback (connect → last byte), sequential requests "
        f"unless stated; {args.rounds} uploads per kind, interleaved. Pictures are judged on p95 over the "
        "fresh analyses, for the slowest kind.",
    ]
    if x["seq_errors"] or x["bad_pictures"]:
        out += ["", f"**Errors:** {x['seq_errors']} sequential uploads and {x['bad_pictures']} picture requests failed."]

    # per-kind breakdown
    detail = []
    for kind, (label, _, _) in FILES.items():
        ok = [u for u in x["by_kind"][kind] if u.ok]
        timing = {k: [u.result.get("timing_ms", {}).get(k, float("nan")) for u in ok] for k in
                  ("decode", "features", "inference", "total")}
        mean = {k: statistics.fmean(v) if v else float("nan") for k, v in timing.items()}
        wall = statistics.fmean(u.seconds * 1000 for u in ok) if ok else float("nan")
        cpu = [u.cpu_s * 1000 for u in ok if u.cpu_s is not None]
        detail.append([label, str(len(ok)), fmt(pct(x["lat"][kind], 50)), fmt(pct(x["lat"][kind], 95)),
                       fmt(min(x["lat"][kind], default=float("nan"))), fmt(max(x["lat"][kind], default=float("nan"))),
                       fmt(mean["decode"]), fmt(mean["features"]), fmt(mean["inference"], 1), fmt(mean["total"]),
                       fmt(wall - mean["total"]), fmt(statistics.median(cpu)) if cpu else "n/a"])
    out += ["", "## Upload latency and the server's own `timing_ms` (means)", "",
            table(["file", "n", "p50 ms", "p95 ms", "min ms", "max ms", "decode", "features", "inference",
                   "total", "wall − total", "server CPU ms (median)"], detail), "",
            "`wall − total` is the time outside the pipeline: HTTP, multipart parsing, the temp file, the analysis "
            "store write, JSON. `server CPU` is the CPU time the workers and their ffmpeg children used per upload "
            "(from /proc): unlike wall time it barely moves when other work shares the CPUs."]

    # cold starts
    out += ["", "## Cold starts", "",
            table(["run", "process start → /healthz", "first upload", "second upload", "workers"],
                  [[str(i + 1), f"{c['healthz_s']:.2f} s", f"{c['first_ms']:.0f} ms" + ("" if c["first_ok"] else " (error)"),
                    f"{c['second_ms']:.0f} ms", str(c["workers"])] for i, c in enumerate(report["cold"])]),
            "", "The page cache is warm after the first run (and numba's on-disk cache, if used, is filled): "
            "a start after a reboot is slower than runs 2+."]

    # pictures
    prow = []
    for picture in PICTURES:
        for kind in dict.fromkeys(p["file"] for p in report["pictures"]):
            sel = [p for p in report["pictures"] if p["picture"] == picture and p["file"] == kind and p["ok"]]
            if not sel:
                continue
            f, c = [p["first_ms"] for p in sel], [p["cached_ms"] for p in sel]
            prow.append([picture, FILES[kind][0], str(len(sel)), fmt(f[0]), fmt(pct(f, 50)), fmt(pct(f, 95)),
                         fmt(max(f)), fmt(pct(c, 50), 1), fmt(pct(c, 95), 1), f"{statistics.fmean(p['bytes'] for p in sel) / 1024:.0f}"])
    out += ["", "## Pictures (GET /analyses/<id>/<kind>.png right after a fresh upload, in the page's order)", "",
            table(["picture", "of", "n", "very first ms", "first p50", "first p95", "first max", "cached p50",
                   "cached p95", "KiB"], prow)]

    # memory
    series = report["memory"]["series"]
    mrows = []
    for pid in x["pids"]:
        def at(sample: dict) -> str:
            value = sample.get(pid, (None, None))[0]
            return fmt(value) if value is not None else "–"
        points = [report["memory"]["start"], *(series[i] for i in (0, 9, 24, 49) if i < len(series)),
                  series[-1] if series else {}, report["memory"]["after_throughput"]]
        pss = report["memory"]["after_throughput"].get(pid, (None, None))[1]
        top = max((s[pid][0] for s in [*series, report["memory"]["after_throughput"]] if pid in s and s[pid][0]),
                  default=float("nan"))
        mrows.append([str(pid), *(at(p) for p in points), fmt(top), fmt(pss) if pss is not None else "–"])
    labels = ["after the 2 cold-start uploads", *(f"after {i + 1}" for i in (0, 9, 24, 49) if i < len(series)),
              f"after {len(series)} (sequential)", f"after +{report['throughput']['uploads']} concurrent"]
    out += ["", "## Worker memory (RSS, MB; workers serve uploads in turn, so each saw part of them)", "",
            table(["worker pid", *labels, "peak", "PSS at end"], mrows), "",
            f"Master (preloaded app) RSS / PSS at end: {fmt(report['master_memory'][0] or float('nan'))} / "
            f"{fmt(report['master_memory'][1] or float('nan'))} MB. RSS counts the pages a worker still shares with "
            "the preloading master; PSS splits them fairly. The sequential uploads interleave 30-s MP3, 30-s WAV and "
            "5-min MP3 (then the picture uploads, with 5-min MP3s last)."]
    out += ["", "<details><summary>RSS (MB) of each worker after each sequential upload</summary>", ""]
    for pid in x["pids"]:
        values = [f"{s[pid][0]:.0f}" if pid in s and s[pid][0] else "–" for s in series]
        out.append(f"- {pid}: " + " ".join(values))
    out += ["", "</details>"]

    # throughput
    tp = report["throughput"]
    out += ["", "## Throughput", "",
            f"{tp['clients']} client threads, {tp['uploads']} uploads of the 30-s MP3 in {tp['wall_s']:.1f} s: "
            f"**{x['rate']:.2f} uploads/s**, {tp['errors']} errors; latency under load p50 "
            f"{fmt(pct(tp['latencies_ms'], 50))} ms, p95 {fmt(pct(tp['latencies_ms'], 95))} ms; server CPU "
            f"{tp['server_cpu_s']:.1f} s = {tp['server_cpu_s'] / tp['wall_s']:.2f} of {mach['nproc']} CPUs busy with the "
            f"service ({1000 * tp['server_cpu_s'] / max(1, tp['ok']):.0f} ms CPU per upload). If the service had all "
            f"{mach['nproc']} CPUs to itself, the CPU-bound ceiling would be about "
            f"{int(mach['nproc']) * max(1, tp['ok']) / max(tp['server_cpu_s'], 1e-9):.1f} uploads/s."]

    # tensorflow
    out += ["", "## TensorFlow", "",
            "Shared libraries mapped per process (/proc/<pid>/maps), master first: "
            + "; ".join(f"pid {pid}: {'no TensorFlow' if not libs else ', '.join(Path(l).name for l in libs[:3])}"
                        f"{', LiteRT loaded' if report['litert'].get(pid) else ''}"
                        for pid, libs in report["tensorflow"].items()) + "."]
    if report["server_log_errors"]:
        out += ["", "## Server log errors", "", "```", *report["server_log_errors"], "```"]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20, help="uploads of each file kind (default 20)")
    parser.add_argument("--cold-starts", type=int, default=3)
    parser.add_argument("--memory-uploads", type=int, default=50, help="at least this many sequential uploads")
    parser.add_argument("--png-analyses", type=int, default=8, help="fresh 30-s MP3 analyses to draw")
    parser.add_argument("--png-analyses-long", type=int, default=3, help="fresh 5-min MP3 analyses to draw")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--concurrent-uploads", type=int, default=80)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results.md")
    parser.add_argument("--keep-temp", action="store_true", help="keep the temp dir (audio, server logs, store)")
    args = parser.parse_args(argv)
    if not all(n >= 1 for n in (args.rounds, args.cold_starts, args.clients, args.concurrent_uploads)):
        parser.error("counts must be at least 1")

    try:
        with BenchRun("bench/bench_upload.py", argv, keep_temp=args.keep_temp) as bench:
            report = run(args, bench)
    except KeyboardInterrupt:
        progress("interrupted")
        return 130
    write_report(markdown(report, args, bench), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

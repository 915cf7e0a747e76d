"""What every bench script shares: start the service as it is deployed, time what a user waits for, say on
what it ran, and write the table.

A bench script keeps only what it measures; the rest is here:

- ``run``: ``BenchRun``, one run of a script: its temp dir, SIGTERM/Ctrl-C, every process it started
  stopped at the end (and the check that none is left), its date, load and the command that ran it;
- ``servers``: ``WebServer``, gunicorn exactly as the Procfile starts it (the ``web:`` line expanded by
  ``sh``, bound to loopback on a free port) with its own store, upload folder and database and any extra
  environment; ``RedisServer``, ``PostgresServer``, ``celery_node`` and ``tagger`` beside it;
- ``processes``: ``Process`` (own session, log file, stopped with its process group) and what ``/proc``
  says of processes (CPU, memory, children, sessions, idleness);
- ``client``: HTTP requests over loopback and multipart bodies (of files, or of bytes made in memory);
- ``takes``: timed takes (warm-up, repeats, interleaving, concurrent clients) and percentiles;
- ``facts``: the machine, the package versions, the git commit;
- ``report``: progress lines, number formats, verdicts against targets, markdown tables, the header lines;
- ``audio``: synthetic music-like MP3/WAV files, as many distinct copies as a bench needs (or WAVs in memory).

A server with its own settings and database, in a script::

    with BenchRun("bench/bench_x.py", argv) as run:
        web = run.start(WebServer(run.tmp / "web", env={"ANALYSIS_STORE_MB": "5"},
                                  database_url=run.start(PostgresServer(run.tmp / "pg")).wait_ready()))
        web.wait_healthy()
        status, body, seconds = http_request(web.port, "GET", "/healthz")

Run a script from the repository root (``.venv/bin/python bench/bench_x.py``): its folder is then on
``sys.path`` and ``import harness`` finds this package.
"""
from .audio import UPLOAD_FILES, encode, make_audio, one_of_each, synth_music, wav_bytes
from .client import http_request, multipart, multipart_of
from .facts import git_state, machine, versions
from .processes import (ROOT, BenchError, CpuMeter, Process, Processes, children, cpu_seconds, log_tails,
                        machine_busy, mapped_libraries, memory_mb, own_cpu, session_cpu, session_processes,
                        wait_until_idle)
from .report import display_command, fmt, progress, table, verdict, write_report
from .run import BenchRun
from .servers import PostgresServer, RedisServer, WebServer, bench_env, celery_node, procfile_command, tagger
from .takes import Takes, concurrently, interleaved, median_ms, percentile, takes

__all__ = [
    "ROOT", "UPLOAD_FILES", "BenchError", "BenchRun", "CpuMeter", "PostgresServer", "Process", "Processes",
    "RedisServer", "Takes", "WebServer", "bench_env", "celery_node", "children", "concurrently", "cpu_seconds",
    "display_command", "encode", "fmt", "git_state", "http_request", "interleaved", "log_tails", "machine",
    "machine_busy", "make_audio", "mapped_libraries", "median_ms", "memory_mb", "multipart", "multipart_of",
    "one_of_each", "own_cpu", "percentile", "procfile_command", "progress", "session_cpu", "session_processes",
    "synth_music", "table", "tagger", "takes", "verdict", "versions", "wait_until_idle", "wav_bytes", "write_report",
]

"""bench/harness starts gunicorn from the Procfile's words as ``sh`` expands them, bound to loopback only."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from bench.harness.processes import BenchError
from bench.harness.servers import WebServer, loopback, procfile_command
from genrelens.jobs.database import private_folder


def value_after(command: list[str], flag: str) -> str:
    return command[command.index(flag) + 1]


def test_the_procfiles_web_command_takes_the_environment_and_binds_to_loopback():
    command = procfile_command({"PATH": os.environ["PATH"], "WEB_CONCURRENCY": "3"}, 5123)
    assert Path(command[0]).name == "gunicorn"
    assert value_after(command, "--workers") == "3"
    assert value_after(command, "--bind") == "127.0.0.1:5123"
    assert command[-1] == "app:create_app()"  # the Procfile's quotes are the shell's, not part of the word
    assert not any("0.0.0.0" in word for word in command)


def test_a_procfile_line_is_read_as_sh_reads_it(tmp_path):
    procfile = tmp_path / "Procfile"
    procfile.write_text("worker: celery worker\n"
                        "web: exec gunicorn -w ${WEB_CONCURRENCY:-4} --bind=0.0.0.0:$PORT --name \"a b\" 'app:create_app()'\n")
    command = procfile_command({"PATH": os.environ["PATH"]}, 6001, procfile)
    assert command[1:] == ["-w", "4", "--bind=127.0.0.1:6001", "--name", "a b", "app:create_app()"]


@pytest.mark.parametrize("line", ["web: touch {flag} && gunicorn app", "web: gunicorn app; touch {flag}",
                                  "web: gunicorn $(touch {flag}) app", "web: gunicorn app | touch {flag}"])
def test_a_line_of_more_than_one_command_is_refused_not_run(tmp_path, line):
    procfile, flag = tmp_path / "Procfile", tmp_path / "ran"
    procfile.write_text(line.format(flag=flag) + "\n")
    with pytest.raises(BenchError, match="not one command"):
        procfile_command({"PATH": os.environ["PATH"]}, 6002, procfile)
    assert not flag.exists()


@pytest.mark.parametrize("args, expected", [
    (["--bind", "0.0.0.0:80", "app"], ["--bind", "127.0.0.1:7", "app"]),
    (["-b", "[::]:80", "app"], ["-b", "127.0.0.1:7", "app"]),
    (["--bind=0.0.0.0:80", "app"], ["--bind=127.0.0.1:7", "app"]),
    (["-b0.0.0.0:80", "app"], ["-b127.0.0.1:7", "app"]),
    (["--workers", "2", "app"], ["--workers", "2", "app", "--bind", "127.0.0.1:7"]),  # gunicorn would bind 0.0.0.0
])
def test_loopback_replaces_or_adds_the_bind_address(args, expected):
    assert loopback(args, 7) == expected


def test_a_servers_own_folders_are_private_as_the_service_demands(tmp_path):
    """The service refuses a database folder that others may open (a 0755 store stopped every bench's server)."""
    server = WebServer(tmp_path / "web")
    private_folder(server.store)  # the service's own check at start: raises UnsafeDatabaseFolder for 0755
    assert stat.S_IMODE(server.uploads.stat().st_mode) == 0o700


@pytest.mark.parametrize("script", sorted(p.name for p in (Path(__file__).parent.parent / "bench").glob("*.py")
                                          if "argparse" in p.read_text()))
def test_every_bench_script_starts_and_explains_itself(script):
    """A bench is run by hand, rarely: a name moved in the harness must not wait for that day to break it."""
    import subprocess
    import sys

    bench = Path(__file__).parent.parent / "bench"
    done = subprocess.run([sys.executable, str(bench / script), "--help"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage:" in done.stdout

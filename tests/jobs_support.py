"""Helpers of the job tests: submit files, wait for a job, read the job tables, run worker processes."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from conftest import ROOT
from genrelens.jobs.database import Database, job_files, upload_parts
from genrelens.settings import worker_environment


def submit(client, paths: list[Path], names: list[str] | None = None, query: str = ""):
    handles = [open(path, "rb") for path in paths]
    try:
        files = [(handle, name) for handle, name in zip(handles, names or [p.name for p in paths])]
        return client.post(f"/jobs{query}", data={"file": files}, content_type="multipart/form-data")
    finally:
        for handle in handles:
            handle.close()


def wait_for_job(client, job_id: str, timeout_s: float = 180, until=lambda view: view["status"] == "done") -> dict:
    deadline = time.time() + timeout_s
    while True:
        response = client.get(f"/jobs/{job_id}")
        assert response.status_code == 200, response.get_data(as_text=True)
        view = response.get_json()
        if until(view):
            return view
        if time.time() > deadline:
            pytest.fail(f"job {job_id} not finished in {timeout_s:g} s: {json.dumps(view)[:2000]}")
        time.sleep(0.05)


def file_rows(app, job_id: str) -> list:
    with Database(app.config["DATABASE_URL"]).read() as connection:
        return connection.execute(select(job_files).where(job_files.c.job_id == job_id)
                                  .order_by(job_files.c.position)).all()


def stored_uploads(app) -> int:
    """How many job files still have bytes in the database."""
    with Database(app.config["DATABASE_URL"]).read() as connection:
        return len(connection.execute(select(upload_parts.c.file_id).distinct()).all())


def worker_env(app, **extra: str) -> dict:
    return os.environ | worker_environment(app.config) | extra


def start_process(command: list[str], env: dict, log_path: Path) -> subprocess.Popen:
    """A worker process in its own session (so a test can kill it and its children), logging to a file."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def start_embedded_pool(app, log_path: Path, workers: int = 1) -> subprocess.Popen:
    return start_process([sys.executable, "-m", "genrelens.jobs.pool", "--workers", str(workers)], worker_env(app), log_path)


def stop(process: subprocess.Popen, timeout_s: float = 60) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_until_running(app, job_id: str, position: int, timeout_s: float = 120) -> int:
    """The pid of the worker process that is analysing the job's file at ``position``."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        row = file_rows(app, job_id)[position]
        if row.status == "running":
            return int(row.claimed_by.rpartition(":")[2])
        assert row.status == "queued", f"the file finished before it could be interrupted: {row.status}"
        time.sleep(0.01)
    pytest.fail("no worker took the file")


def wait_for_temp_file(upload_dir: Path, pid: int, timeout_s: float = 60) -> Path:
    """The temp file the worker process ``pid`` analyses from (written once it has the file's bytes)."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        found = list(Path(upload_dir).glob(f"job-{pid}-*"))
        if found:
            return found[0]
        time.sleep(0.005)
    pytest.fail(f"worker {pid} wrote no temp file")

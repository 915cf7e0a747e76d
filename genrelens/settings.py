"""Every setting, from environment variables with sane defaults (documented in docs/operations.md#settings).

The web app (``genrelens.web.factory.create_app``), the embedded worker pool (``python -m genrelens.jobs.pool``) and the
Celery workers (``genrelens.jobs.celery_worker``) read the same settings, so one environment configures all.
"""
from __future__ import annotations

import os
import tempfile

from genrelens.models import DEFAULT_MODEL_DIR
from genrelens.models.runtimes import DEFAULT_CHOICE, check_choice


def default_state_dir(env: dict) -> str:
    """Where the SQLite database lives unless ``ANALYSIS_DIR`` says: this user's state folder
    (``$XDG_STATE_HOME/genrelens``, else ``~/.local/state/genrelens``), never a predictable shared name;
    without a writable home, a folder of this user's id in the temp folder (refused at start if another
    user made it first: ``genrelens.jobs.database.private_folder``)."""
    if env.get("XDG_STATE_HOME"):
        return os.path.join(env["XDG_STATE_HOME"], "genrelens")
    home = env.get("HOME") or os.path.expanduser("~")
    if os.path.isdir(home) and os.access(home, os.W_OK | os.X_OK):
        return os.path.join(home, ".local", "state", "genrelens")
    return os.path.join(tempfile.gettempdir(), f"genrelens-{os.geteuid()}")


def usable_cpus() -> int:
    """The CPUs this process may use: the container's CPU quota (cgroup v2 ``cpu.max``, v1 CFS quota),
    its CPU affinity, else the machine's cores (joblib's loky counts them; librosa already needs joblib)."""
    from joblib.externals.loky import cpu_count

    return cpu_count()


def model_runtime(env: dict | None = None) -> str:
    """``MODEL_RUNTIME``: the engine of each network (``auto``: the winners in models/runtimes.json).
    A value that is not one of them stops the start with a ``ValueError`` that lists the valid ones."""
    env = os.environ if env is None else env
    return check_choice(env.get("MODEL_RUNTIME") or DEFAULT_CHOICE)


def settings_from_env(env: dict | None = None) -> dict:
    env = os.environ if env is None else env
    analysis_dir = env.get("ANALYSIS_DIR") or default_state_dir(env)
    return {
        "MAX_UPLOAD_MB": float(env.get("MAX_UPLOAD_MB", 50)),
        "MAX_ANALYSIS_SECONDS": float(env.get("MAX_ANALYSIS_SECONDS", 600)),
        "ANALYSIS_DIR": analysis_dir,
        "ANALYSIS_TTL_S": float(env.get("ANALYSIS_TTL_S", 3600)),
        "ANALYSIS_STORE_MB": float(env.get("ANALYSIS_STORE_MB", 1024)),
        # an analysis (its id, filename and link to the shared result) is kept this long; a result while one names it
        "RESULT_TTL_S": float(env.get("RESULT_TTL_S", 30 * 86400)),
        "CORS_ORIGINS": [o.strip() for o in env.get("CORS_ORIGINS", "").split(",") if o.strip()],
        "MODEL_DIR": env.get("MODEL_DIR", str(DEFAULT_MODEL_DIR)),
        "UPLOAD_DIR": env.get("UPLOAD_DIR", tempfile.gettempdir()),
        "DECODE_TIMEOUT_S": float(env.get("DECODE_TIMEOUT_S", 60)),
        "DEFAULT_MODEL": env.get("DEFAULT_MODEL") or None,
        "MUSICNN_THREADS": int(env.get("MUSICNN_THREADS", 2)),
        "MODEL_RUNTIME": model_runtime(env),
        # Jobs and analyses: SQLite in ANALYSIS_DIR unless DATABASE_URL names another database.
        "DATABASE_URL": env.get("DATABASE_URL") or None,
        # Empty: the embedded pool of JOB_WORKERS local processes. redis://...: Celery workers anywhere.
        "BROKER_URL": env.get("BROKER_URL") or None,
        "JOB_WORKERS": int(env.get("JOB_WORKERS") or usable_cpus()),
        "JOB_QUEUE_LIMIT": int(env.get("JOB_QUEUE_LIMIT", 2000)),
        "JOB_QUEUE_MB": float(env.get("JOB_QUEUE_MB", 1024)),  # the bytes of the files waiting, all jobs together
        "JOB_TTL_S": float(env.get("JOB_TTL_S", 7 * 86400)),  # a finished job is kept this long after its last file
        "JOB_MAX_FILES": int(env.get("JOB_MAX_FILES", 500)),
        "JOB_RETRY_AFTER_S": int(env.get("JOB_RETRY_AFTER_S", 30)),
        # Celery: how long a message taken by a worker that vanished waits before another worker gets it
        "JOB_VISIBILITY_TIMEOUT_S": float(env.get("JOB_VISIBILITY_TIMEOUT_S", 600)),
        # a worker's claim on a file, renewed by its heartbeat; not renewed this long, any worker redoes the file
        "JOB_CLAIM_TIMEOUT_S": float(env.get("JOB_CLAIM_TIMEOUT_S", 300)),
        # "more like this" without ?job=: among the analysis' own job's files (job) or every analysis kept (all)
        "SIMILAR_SCOPE": similar_scope(env.get("SIMILAR_SCOPE") or "job"),
    }


def similar_scope(value: str) -> str:
    """``job`` (nobody sees another's file names) or ``all`` (a service that one person or household uses)."""
    if value not in ("job", "all"):
        raise ValueError(f"SIMILAR_SCOPE must be 'job' or 'all', not {value!r}")
    return value


def database_url(settings: dict) -> str:
    """``DATABASE_URL``, else a SQLite file in ``ANALYSIS_DIR``."""
    return settings.get("DATABASE_URL") or f"sqlite:///{os.path.join(settings['ANALYSIS_DIR'], 'genrelens.sqlite3')}"


# What a worker process needs of the web app's settings, passed on as environment variables.
WORKER_SETTINGS = ("MAX_ANALYSIS_SECONDS", "ANALYSIS_DIR", "ANALYSIS_TTL_S", "ANALYSIS_STORE_MB", "RESULT_TTL_S",
                   "MODEL_DIR", "MODEL_RUNTIME", "DECODE_TIMEOUT_S", "DEFAULT_MODEL", "DATABASE_URL", "BROKER_URL", "JOB_WORKERS",
                   "JOB_QUEUE_LIMIT", "JOB_QUEUE_MB", "JOB_TTL_S", "JOB_VISIBILITY_TIMEOUT_S", "JOB_CLAIM_TIMEOUT_S",
                   "UPLOAD_DIR")


def worker_environment(settings: dict) -> dict:
    """The environment that makes ``settings_from_env`` in a worker process give these settings."""
    return {name: str(settings[name]) for name in WORKER_SETTINGS if settings.get(name) is not None}

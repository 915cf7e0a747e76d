"""The app factory: settings (environment, then ``config``) in ``app.config``, the models loaded and
warmed once, the database, the job queue, one blueprint per concern, JSON errors."""
from __future__ import annotations

import os
from pathlib import Path

from flask import Flask

from genrelens.analysis.pipeline import GenreClassifier
from genrelens.analysis.warm import warm_up
from genrelens.jobs.book import JobBook
from genrelens.jobs.database import Database
from genrelens.jobs.queues import CeleryQueue, EmbeddedQueue
from genrelens.jobs.store import AnalysisStore
from genrelens.settings import database_url, settings_from_env
from genrelens.web import errors
from genrelens.web.blueprints.analyses import analyses
from genrelens.web.blueprints.api import api
from genrelens.web.blueprints.explore import explore
from genrelens.web.blueprints.jobs import jobs
from genrelens.web.blueprints.page import page
from genrelens.web.blueprints.upload import upload
from genrelens.web.forms import LenientRequest

ROOT = Path(__file__).resolve().parents[2]  # templates/, static/ and genres.json live here
GENRES_FILE = ROOT / "genres.json"


def _varies_by_origin(response):
    """With CORS, an answer differs by the request's Origin (allowed or not): caches must keep them apart.
    flask-cors says so only when more than one origin is listed."""
    response.vary.add("Origin")
    return response


def create_app(config: dict | None = None) -> Flask:
    app = Flask("app", root_path=str(ROOT))
    app.request_class = LenientRequest  # a file name that is not UTF-8 does not lose the form
    app.config.update(settings_from_env() | {"GENRES_FILE": str(GENRES_FILE)} | (config or {}))
    settings = app.config
    settings["MAX_CONTENT_LENGTH"] = int(settings["MAX_UPLOAD_MB"] * 1024 * 1024)
    settings["DATABASE_URL"] = database_url(settings)
    app.json.sort_keys = False

    classifier = GenreClassifier(settings["MODEL_DIR"], settings["MAX_ANALYSIS_SECONDS"], settings["DECODE_TIMEOUT_S"],
                                 settings["DEFAULT_MODEL"], settings["MUSICNN_THREADS"], settings["MODEL_RUNTIME"])
    warm_up(classifier)  # logged, and says why when slow (genrelens/analysis/warm.py)
    database = Database(settings["DATABASE_URL"])
    database.engine  # a wrong DATABASE_URL fails here, at start, not in the first request
    store = AnalysisStore.from_settings(database, settings)
    os.makedirs(settings["UPLOAD_DIR"], mode=0o700, exist_ok=True)  # a missing one would fail every upload
    if settings["BROKER_URL"]:  # scale-out: Celery workers anywhere (genrelens/jobs/celery_worker.py)
        from genrelens.jobs.celery_app import make_celery

        app.extensions["celery"] = make_celery(settings["BROKER_URL"], settings["JOB_VISIBILITY_TIMEOUT_S"])
        queue = CeleryQueue(app.extensions["celery"])
    else:  # embedded: the local pool (genrelens/jobs/pool.py), started next to the server
        queue = EmbeddedQueue()
    app.extensions["genre"] = {"classifier": classifier, "store": store, "database": database,
                               "book": JobBook.from_settings(database, settings), "queue": queue}

    if settings["CORS_ORIGINS"]:
        from flask_cors import CORS

        CORS(app, origins=settings["CORS_ORIGINS"])
        app.after_request(_varies_by_origin)
    for blueprint in (page, upload, jobs, analyses, explore, api):
        app.register_blueprint(blueprint)
    errors.register(app)
    return app

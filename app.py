"""The web layer: an app factory, one blueprint per concern (page, upload, analyses, api), JSON errors,
settings from the environment in ``app.config``. The pipeline lives in ``genrelens``.

    gunicorn 'app:create_app()'     # production (see Procfile)
    python app.py                   # development server on http://127.0.0.1:5000
"""
from __future__ import annotations

import logging
import os
import re
import tempfile
import time
import unicodedata
from pathlib import Path

from flask import Blueprint, Flask, Response, current_app, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from genrelens.analyse import analyse_into_store
from genrelens.audio import decoder_problem
from genrelens.db import Database
from genrelens.jobs import CeleryQueue, EmbeddedQueue, JobBook, NewFile, QueueFull, QueueUnavailable, csv_rows
from genrelens.peaks import peaks_json
from genrelens.pipeline import GenreClassifier
from genrelens.problems import file_problem
from genrelens.results_csv import to_csv
from genrelens.settings import database_url, settings_from_env
from genrelens.store import AnalysisStore
from genrelens.warm import warm_up
from genrelens.visualizations import KINDS, render

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def error_response(status: int, code: str, message: str) -> Response:
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    return response


# The page's own origin only; blob: for the local file wavesurfer plays and its worker.
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "img-src 'self' data: blob:",
    "media-src 'self' blob:",
    "worker-src 'self' blob:",
    # wavesurfer 8 puts one fixed <style> into its shadow root; its hash (for 8.0.1 with the page's
    # 120-px player) is allowed. The same rules are also linked from static/css, so a new hash only
    # costs a console warning, never a broken player.
    "style-src 'self' 'sha256-YfOCfTH/jpiZwwDEWghNjme91S3Bbi2/3jQ3JSGWz5Y='",
    "script-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}

_HTTP_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "too_large"}


def display_name(raw: str | None) -> str:
    """The upload's name as shown back to the user: last path part, printable, at most 200 chars."""
    name = re.split(r"[\\/]", raw or "")[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    return name.strip()[:200] or "upload"


UPLOAD_PREFIX = "upload-"
STALE_UPLOAD_S = 900.0  # far longer than a request may live (gunicorn's --timeout 120 kills it first)
_last_sweep = [float("-inf")]


def sweep_stale_uploads(directory: str, every_s: float = 60.0) -> None:
    """Delete upload temp files older than STALE_UPLOAD_S: what a worker killed mid-request left.

    Its ``finally`` never ran, and no other process knows the file; runs at most every ``every_s``.
    """
    if time.monotonic() - _last_sweep[0] < every_s:
        return
    _last_sweep[0] = time.monotonic()
    now = time.time()
    for entry in os.scandir(directory):
        try:
            if entry.name.startswith(UPLOAD_PREFIX) and entry.is_file() and now - entry.stat().st_mtime > STALE_UPLOAD_S:
                os.unlink(entry.path)
                log.warning("removed a stale upload left by a killed worker: %s", entry.name)
        except FileNotFoundError:  # another worker swept it first
            continue


MODEL_DESCRIPTIONS = {
    "student": "A small CNN distilled from musicnn and its heads: genres, tags and electronic details on "
               "every 3-s segment in about a millisecond each, right less often than musicnn.",
    "musicnn": "Linear heads on musicnn (MSD), a network pretrained on ~200k songs: genres from its 50 style "
               "tags, kept close to what the tags mean; electronic styles from its pooled features.",
    "mfcc_cnn": "The design card's CNN on 3-s MFCC segments, trained from scratch on our data.",
    "ensemble": "The average of musicnn and the MFCC CNN, segment by segment.",
}


def models_overview(classifier: GenreClassifier) -> dict:
    """``GET /api/model``: the served default (name, genres, metrics at the top, as the page reads
    them), every selectable model with its figures, and the raw cards behind them."""
    cards = {"genre_cnn": classifier.card.raw}
    figures = {"mfcc_cnn": dict(classifier.card.raw.get("metrics", {}))}
    if classifier.musicnn:
        head_card = classifier.musicnn.card
        cards["musicnn_heads"] = head_card
        for name, metrics in head_card.get("metrics", {}).items():
            figures[name] = figures.get(name, {}) | metrics
    if classifier.student:
        student_card = classifier.student.card.raw
        cards["genre_student"] = student_card
        figures["student"] = student_card["metrics"]["student"] | {
            "closeness_to_musicnn": student_card["metrics"]["closeness_to_musicnn"]}
    models = [{"name": name, "default": name == classifier.default_model, "description": MODEL_DESCRIPTIONS[name],
               "metrics": figures.get(name, {})} for name in classifier.models]
    return {
        "name": classifier.default_model,
        "version": classifier.card.version,
        "genres": classifier.genres,
        "metrics": figures.get(classifier.default_model, {}),
        "models": models,
        "musicnn": {"tags": list(classifier.musicnn.tags),
                    "styles": list(classifier.musicnn.electronic.styles),
                    "licence": "models/musicnn_msd.LICENSE (ISC, Music Technology Group, UPF)"}
        if classifier.musicnn else None,
        "cards": cards,
    }


def _classifier() -> GenreClassifier:
    return current_app.extensions["genre"]["classifier"]


def _store() -> AnalysisStore:
    return current_app.extensions["genre"]["store"]


def chosen_model(classifier: GenreClassifier) -> str | None:
    """The model asked for (query or form field ``model``), checked; None for the server's default."""
    model = request.args.get("model") or request.form.get("model") or None
    if model is not None and model not in classifier.models:
        raise ApiError(400, "unknown_model", f"No model '{model[:40]}'; choose from {', '.join(classifier.models)}.")
    return model


def with_links(analysis_id: str, result: dict) -> dict:
    images = {kind: f"/analyses/{analysis_id}/{kind}.png" for kind in KINDS}
    return {"id": analysis_id, **result, "images": images}


# ---------------------------------------------------------------------------- page: GET /
page = Blueprint("page", __name__)


@page.get("/")
def index():
    return render_template("index.html", max_upload_mb=f"{current_app.config['MAX_UPLOAD_MB']:g}")


# ---------------------------------------------------------------------------- upload: POST /file-upload
upload = Blueprint("upload", __name__)


@upload.post("/file-upload")
def file_upload():
    classifier, settings = _classifier(), current_app.config
    model = chosen_model(classifier)
    sent = request.files.get("file")
    if sent is None:
        raise ApiError(400, "no_file", "Send the audio as a multipart form field named 'file'.")
    filename = display_name(sent.filename)
    sweep_stale_uploads(settings["UPLOAD_DIR"])
    fd, path = tempfile.mkstemp(prefix=UPLOAD_PREFIX, dir=settings["UPLOAD_DIR"])
    try:
        with os.fdopen(fd, "wb") as out:
            sent.save(out)
        if os.path.getsize(path) == 0:
            raise ApiError(400, "empty_file", "The file is empty.")
        stored = analyse_into_store(classifier, _store(), path, filename, model)
    except Exception as exc:
        problem = file_problem(exc)
        if problem is None:
            raise
        if problem[0] == 503:
            log.error("decoder unavailable: %s", exc)
        raise ApiError(*problem) from exc
    finally:
        os.unlink(path)
    result = {**stored.result, "cached": True} if stored.cached else stored.result
    return jsonify(with_links(stored.analysis_id, result))


# ---------------------------------------------------------------------------- jobs: many files, analysed by workers
jobs = Blueprint("jobs", __name__, url_prefix="/jobs")


@jobs.post("")
def create_job():
    """Many files (field ``file`` repeated) -> 202 with the job at once; workers analyse them."""
    settings, book = current_app.config, current_app.extensions["genre"]["book"]
    model = chosen_model(_classifier())
    sent = request.files.getlist("file")
    if not sent:
        raise ApiError(400, "no_file", "Send the audio files as multipart form fields named 'file', one per file.")
    if len(sent) > settings["JOB_MAX_FILES"]:
        raise ApiError(400, "too_many_files", f"{len(sent)} files in one job; at most {settings['JOB_MAX_FILES']}.")
    retry = {"Retry-After": str(settings["JOB_RETRY_AFTER_S"])}
    try:
        job_id, file_ids = book.create([NewFile(display_name(f.filename), f.read()) for f in sent], model)
    except QueueFull as exc:
        raise ApiError(503, "queue_full", str(exc), retry) from exc
    try:
        current_app.extensions["genre"]["queue"].submit(file_ids)
    except QueueUnavailable as exc:
        log.error("the job queue refused job %s: %s", job_id, exc)
        book.forget(job_id)
        raise ApiError(503, "queue_unavailable", "The job queue cannot be reached; please try again later.", retry) from exc
    response = jsonify(book.view(job_id))
    response.status_code = 202
    response.headers["Location"] = f"/jobs/{job_id}"
    return response


def _job(job_id: str) -> dict:
    view = current_app.extensions["genre"]["book"].view(job_id)
    if view is None:
        raise ApiError(404, "not_found", "No such job.")
    return view


@jobs.get("/<job_id>")
def job(job_id: str):
    return jsonify(_job(job_id))


@jobs.get("/<job_id>/results.csv")
def job_results(job_id: str):
    response = Response(to_csv(csv_rows(_job(job_id))), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="genrelens-job-{job_id}.csv"'
    return response


# ---------------------------------------------------------------------------- analyses: stored results and pictures
analyses = Blueprint("analyses", __name__, url_prefix="/analyses")


@analyses.get("/<analysis_id>")
def analysis(analysis_id: str):
    result = _store().result(analysis_id)
    if result is None:
        raise ApiError(404, "not_found", "No such analysis.")
    return jsonify(with_links(analysis_id, result))


def _missing_audio(analysis_id: str) -> ApiError:
    """No signal to draw from: 410 when the analysis stands but its audio has been dropped, else 404."""
    if _store().result(analysis_id) is not None:
        return ApiError(410, "expired", "The audio behind this analysis has been dropped (the store keeps audio "
                                        "for a while only); the analysis itself stands. Upload the file again for pictures.")
    return ApiError(404, "not_found", "No such analysis.")


@analyses.get("/<analysis_id>/<kind>.png")
def picture(analysis_id: str, kind: str):
    if kind not in KINDS:
        raise ApiError(404, "not_found", f"No picture of kind '{kind}'; kinds: {', '.join(KINDS)}.")
    store, settings = _store(), _classifier().settings
    png = store.picture(analysis_id, kind)
    if png is None:
        signal = store.signal(analysis_id)
        if signal is None:
            raise _missing_audio(analysis_id)
        png = render(kind, signal, settings.sample_rate, settings.n_mfcc)
        store.put_picture(analysis_id, kind, png)
    response = Response(png, mimetype="image/png")
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


@analyses.get("/<analysis_id>/peaks.json")
def waveform_peaks(analysis_id: str):
    """The analysed signal's waveform peaks: the page draws long files from these (genrelens/peaks.py)."""
    signal = _store().signal(analysis_id)
    if signal is None:
        raise _missing_audio(analysis_id)
    response = jsonify(peaks_json(signal, _classifier().settings.sample_rate))
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


# ---------------------------------------------------------------------------- api: model card, genre guide, health
api = Blueprint("api", __name__)


@api.get("/healthz")
def healthz():
    """200 when the service can analyse uploads; 503 naming what is broken (the decoder) when not."""
    classifier = _classifier()
    problem = decoder_problem()
    genre = current_app.extensions["genre"]
    body = {"status": "degraded" if problem else "ok", "model": classifier.default_model,
            "models": list(classifier.models), "version": classifier.card.version,
            "jobs": {"queue": genre["queue"].name, "queued": genre["book"].waiting("queued"),
                     "running": genre["book"].waiting("running")}}
    if problem:
        body["problems"] = {"decoder": problem}
    response = jsonify(body)
    response.status_code = 503 if problem else 200
    return response


@api.get("/api/model")
def model_card():
    return jsonify(models_overview(_classifier()))


@api.get("/api/genres")
def genres():
    genres_file = Path(current_app.config["GENRES_FILE"])
    if not genres_file.exists():
        raise ApiError(404, "not_found", "No genre guide is installed.")
    return Response(genres_file.read_bytes(), mimetype="application/json")


# ---------------------------------------------------------------------------- errors and headers, for every route
def api_error(exc: ApiError):
    response = error_response(exc.status, exc.code, exc.message)
    response.headers.update(exc.headers)
    return response


def http_error(exc: HTTPException):
    if exc.code == 413:
        limit = current_app.config["MAX_UPLOAD_MB"]
        return error_response(413, "too_large", f"The file is larger than the {limit:g} MB upload limit.")
    return error_response(exc.code or 500, _HTTP_CODES.get(exc.code, "http_error"), exc.description or exc.name)


def internal_error(exc: Exception):
    log.exception("unhandled error")
    return error_response(500, "internal_error", "Something went wrong on our side.")


def server_refusal():
    """A request the server layer (genrelens.serving) refused before any route ran: 503 when the
    analysis queue is full (with Retry-After), 408 when the body came too slowly. Answered here so it
    gets the JSON error shape and the security headers of every other answer."""
    refusal = request.environ.get("genrelens.refusal")
    if refusal is None:
        return None
    response = error_response(refusal["status"], refusal["code"], refusal["message"])
    response.headers.update(refusal["headers"])
    return response


def security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def create_app(config: dict | None = None) -> Flask:
    """The app: settings (environment, then ``config``) in ``app.config``, the models loaded and warmed
    once, the analysis store, one blueprint per concern."""
    app = Flask(__name__)
    app.config.update(settings_from_env() | {"GENRES_FILE": str(ROOT / "genres.json")} | (config or {}))
    settings = app.config
    settings["MAX_CONTENT_LENGTH"] = int(settings["MAX_UPLOAD_MB"] * 1024 * 1024)
    settings["DATABASE_URL"] = database_url(settings)
    app.json.sort_keys = False

    classifier = GenreClassifier(settings["MODEL_DIR"], settings["MAX_ANALYSIS_SECONDS"], settings["DECODE_TIMEOUT_S"],
                                 settings["DEFAULT_MODEL"], settings["MUSICNN_THREADS"])
    warm_up(classifier)  # logged, and says why when slow (genrelens/warm.py)
    database = Database(settings["DATABASE_URL"])
    database.engine  # a wrong DATABASE_URL fails here, at start, not in the first request
    store = AnalysisStore(database, int(settings["ANALYSIS_STORE_MB"] * 1024 * 1024), settings["ANALYSIS_TTL_S"])
    os.makedirs(settings["UPLOAD_DIR"], mode=0o700, exist_ok=True)  # a missing one would fail every upload
    if settings["BROKER_URL"]:  # scale-out: Celery workers anywhere (genrelens/celery_worker.py)
        from genrelens.celery_app import make_celery

        app.extensions["celery"] = make_celery(settings["BROKER_URL"], settings["JOB_VISIBILITY_TIMEOUT_S"])
        queue = CeleryQueue(app.extensions["celery"])
    else:  # embedded: the local pool (genrelens/worker.py), started next to the server
        queue = EmbeddedQueue()
    app.extensions["genre"] = {"classifier": classifier, "store": store, "database": database,
                               "book": JobBook(database, settings["JOB_QUEUE_LIMIT"]), "queue": queue}

    if settings["CORS_ORIGINS"]:
        from flask_cors import CORS

        CORS(app, origins=settings["CORS_ORIGINS"])
    for blueprint in (page, upload, jobs, analyses, api):
        app.register_blueprint(blueprint)
    app.register_error_handler(ApiError, api_error)
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(Exception, internal_error)
    app.before_request(server_refusal)
    app.after_request(security_headers)
    return app


if __name__ == "__main__":
    from genrelens.worker import start_pool_process, stop_pool_process

    logging.basicConfig(level=logging.INFO)
    application = create_app()
    pool = start_pool_process(application.config)  # the embedded job pool, as gunicorn.conf.py starts it
    try:
        application.run(host="127.0.0.1", port=int(os.environ.get("PORT", 5000)))
    finally:
        stop_pool_process(pool)

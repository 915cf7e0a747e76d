"""/jobs: many files at once, analysed by workers; their progress and their CSV."""
from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, jsonify, request

from genrelens.jobs.book import NewFile, QueueFull, csv_rows
from genrelens.jobs.queues import QueueUnavailable
from genrelens.results_csv import to_csv
from genrelens.web.blueprints.explore import with_summary
from genrelens.web.context import chosen_model, current_classifier, display_name
from genrelens.web.errors import ApiError

log = logging.getLogger(__name__)

jobs = Blueprint("jobs", __name__, url_prefix="/jobs")


@jobs.post("")
def create_job():
    """Many files (field ``file`` repeated) -> 202 with the job at once; workers analyse them."""
    settings, book = current_app.config, current_app.extensions["genre"]["book"]
    model = chosen_model(current_classifier())
    sent = request.files.getlist("file")
    if not sent:
        raise ApiError(400, "no_file", "Send the audio files as multipart form fields named 'file', one per file.")
    if len(sent) > settings["JOB_MAX_FILES"]:
        raise ApiError(400, "too_many_files", f"{len(sent)} files in one job; at most {settings['JOB_MAX_FILES']}.")
    retry = {"Retry-After": str(settings["JOB_RETRY_AFTER_S"])}
    try:
        # each part is werkzeug's spooled temp file: read into the database a part at a time
        job_id, file_ids = book.create([NewFile.from_stream(display_name(f.filename), f.stream) for f in sent], model)
    except QueueFull as exc:
        raise ApiError(503, "queue_full", str(exc), retry) from exc
    try:
        current_app.extensions["genre"]["queue"].submit(file_ids)
    except QueueUnavailable as exc:
        log.error("the job queue refused job %s: %s", job_id, exc)
        book.forget(job_id)
        raise ApiError(503, "queue_unavailable", "The job queue cannot be reached; please try again later.", retry) from exc
    response = jsonify(with_summary(book.view(job_id)))
    response.status_code = 202
    response.headers["Location"] = f"/jobs/{job_id}"
    return response


@jobs.after_request
def not_cached(response: Response) -> Response:
    """A job changes until it is done and is someone's own: never kept by a browser or a proxy."""
    response.headers["Cache-Control"] = "no-store"
    return response


def _job(job_id: str) -> dict:
    view = current_app.extensions["genre"]["book"].view(job_id)
    if view is None:
        raise ApiError(404, "not_found", "No such job.")
    return view


@jobs.get("/<job_id>")
def job(job_id: str):
    return jsonify(with_summary(_job(job_id)))


@jobs.get("/<job_id>/results.csv")
def job_results(job_id: str):
    response = Response(to_csv(csv_rows(_job(job_id))), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="genrelens-job-{job_id}.csv"'
    return response

"""POST /file-upload: one file, analysed in the request."""
from __future__ import annotations

import logging
import os
import tempfile
import time

from flask import Blueprint, current_app, jsonify, request

from genrelens.jobs.analyse import analyse_into_store
from genrelens.problems import file_problem
from genrelens.web.context import chosen_model, current_classifier, current_store, display_name, with_links
from genrelens.web.errors import ApiError

log = logging.getLogger(__name__)

upload = Blueprint("upload", __name__)

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


@upload.post("/file-upload")
def file_upload():
    classifier, settings = current_classifier(), current_app.config
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
        stored = analyse_into_store(classifier, current_store(), path, filename, model)
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

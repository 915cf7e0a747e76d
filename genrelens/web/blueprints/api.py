"""The model card (GET /api/model), the genre guide (GET /api/genres) and health (GET /healthz)."""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, current_app, jsonify

from genrelens.analysis.audio import decoder_problem
from genrelens.analysis.pipeline import GenreClassifier
from genrelens.jobs.supervision import current_pool_state
from genrelens.web.context import current_classifier
from genrelens.web.errors import ApiError

api = Blueprint("api", __name__)

MODEL_DESCRIPTIONS = {
    "student": "A small CNN distilled from musicnn and its heads: genres, tags and electronic details on "
               "every 3-s segment in about a millisecond each, right less often than musicnn.",
    "musicnn": "Linear heads on musicnn (MSD), a network pretrained on ~200k songs: the genres its 50 style tags "
               "name, from those tags alone; classical, disco, reggae and the electronic styles from its sense of sound.",
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


@api.get("/healthz")
def healthz():
    """200 when the service can analyse uploads and run jobs; 503 naming what is broken when not: the
    decoder, or the embedded job pool this server supervises (down until it is restarted)."""
    classifier = current_classifier()
    genre = current_app.extensions["genre"]
    pool = current_pool_state()
    problems = {name: problem for name, problem in (("decoder", decoder_problem()),
                                                    ("jobs", pool.problem if pool else None)) if problem}
    jobs = {"queue": genre["queue"].name, "queued": genre["book"].waiting("queued"),
            "running": genre["book"].waiting("running")}
    if pool:
        jobs["pool_restarts"] = pool.restarts
    body = {"status": "degraded" if problems else "ok", "model": classifier.default_model,
            "models": list(classifier.models), "version": classifier.card.version, "jobs": jobs}
    if problems:
        body["problems"] = problems
    response = jsonify(body)
    response.status_code = 503 if problems else 200
    return response


@api.get("/api/model")
def model_card():
    return jsonify(models_overview(current_classifier()))


@api.get("/api/genres")
def genres():
    genres_file = Path(current_app.config["GENRES_FILE"])
    if not genres_file.exists():
        raise ApiError(404, "not_found", "No genre guide is installed.")
    return Response(genres_file.read_bytes(), mimetype="application/json")

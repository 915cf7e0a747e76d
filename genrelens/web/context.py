"""What the blueprints share: the app's services, the model a request asks for, the upload's name."""
from __future__ import annotations

import unicodedata

from flask import current_app, request

from genrelens.analysis.pipeline import GenreClassifier
from genrelens.jobs.store import AnalysisStore
from genrelens.web.errors import ApiError
from genrelens.web.pictures import KINDS


def current_classifier() -> GenreClassifier:
    return current_app.extensions["genre"]["classifier"]


def current_store() -> AnalysisStore:
    return current_app.extensions["genre"]["store"]


def chosen_model(classifier: GenreClassifier) -> str | None:
    """The model asked for (query or form field ``model``), checked; None for the server's default."""
    model = request.args.get("model") or request.form.get("model") or None
    if model is not None and model not in classifier.models:
        raise ApiError(400, "unknown_model", f"No model '{model[:40]}'; choose from {', '.join(classifier.models)}.")
    return model


def display_name(raw: str | None) -> str:
    """The upload's name as shown back to the user: as sent, without control characters, at most 200
    characters. It is only ever shown (as text: the page never parses it as HTML) and never used as a
    path, so nothing is cut at a ``/`` or ``\\``: that turned ``<b>x</b>.mp3`` into ``b>.mp3``."""
    name = "".join(ch for ch in raw or "" if unicodedata.category(ch)[0] != "C")
    return name.strip()[:200] or "upload"


def with_links(analysis_id: str, result: dict) -> dict:
    images = {kind: f"/analyses/{analysis_id}/{kind}.png" for kind in KINDS}
    return {"id": analysis_id, **result, "images": images}

"""A library at a glance over HTTP: "more like this" (GET /analyses/<id>/similar) and a job's playlists
(GET /jobs/<id>/playlist.m3u8); the job's summary rides on GET /jobs/<id> (``with_summary``)."""
from __future__ import annotations

import re

from flask import Blueprint, Response, current_app, jsonify, request

from genrelens.explore.playlists import UnknownChoice, canonical, choose, item, write_m3u
from genrelens.explore.similar import MAX_N, NotFound, NoVector, similar
from genrelens.explore.summary import summarise
from genrelens.models.musicnn import MSD_TAGS
from genrelens.web.context import current_classifier
from genrelens.web.errors import ApiError

explore = Blueprint("explore", __name__)

DEFAULT_N = 10
PLAYLIST_CHOICES = ("genre", "style", "tag", "like")


def with_summary(view: dict) -> dict:
    """A job's view (``JobBook.view``) with its ``summary``."""
    return {**view, "summary": summarise(view["files"])}


def _database():
    return current_app.extensions["genre"]["database"]


def _count(name: str, default: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not re.fullmatch(r"\s*\d{1,4}\s*", raw) or not 1 <= int(raw) <= MAX_N:
        raise ApiError(400, "bad_n", f"'{name}' must be a whole number from 1 to {MAX_N}.")
    return int(raw)


def _nearest(analysis_id: str, n: int, job_id: str | None) -> list:
    try:
        return similar(_database(), analysis_id, n, job_id, current_app.config.get("SIMILAR_SCOPE", "job"))
    except NotFound as exc:
        raise ApiError(404, "not_found", f"No such {exc.what}.") from exc
    except NoVector as exc:
        raise ApiError(422, "no_vector", "This analysis has no track vector to compare (it was made before the "
                                         "service kept them); upload the file again.") from exc


@explore.get("/analyses/<analysis_id>/similar")
def more_like_this(analysis_id: str):
    n = _count("n", DEFAULT_N)
    job_id = request.args.get("job") or None
    neighbours = _nearest(analysis_id, n, job_id)
    scope = "job" if job_id else current_app.config.get("SIMILAR_SCOPE", "job")
    response = jsonify({"id": analysis_id, "scope": scope, "similar": [item.to_dict() for item in neighbours]})
    response.headers["Cache-Control"] = "no-store"  # other files' names, and a job that still grows
    return response


def valid_choices() -> dict[str, list[str]]:
    """The genres, electronic styles and tags this service's models name."""
    classifier = current_classifier()
    styles = list(classifier.musicnn.card["styles"]) if classifier.musicnn else []
    return {"genre": list(classifier.genres), "style": styles, "tag": list(MSD_TAGS)}


@explore.get("/jobs/<job_id>/playlist.m3u8")
def playlist(job_id: str):
    view = current_app.extensions["genre"]["book"].view(job_id)
    if view is None:
        raise ApiError(404, "not_found", "No such job.")
    asked = [name for name in PLAYLIST_CHOICES if request.args.get(name)]
    if len(asked) != 1:
        raise ApiError(400, "choose_one", "Name one of genre=, style=, tag= or like=<analysis id>.")
    kind, value = asked[0], request.args[asked[0]]
    if kind == "like":
        by_id = {entry["analysis_id"]: entry for entry in view["files"] if entry["analysis_id"]}
        neighbours = _nearest(value, len(view["files"]), job_id)
        chosen = ([by_id[value]] if value in by_id else []) + [by_id[n.id] for n in neighbours if n.id in by_id]
    else:
        try:
            value = canonical(kind, value, valid_choices()[kind])
        except UnknownChoice as exc:
            raise ApiError(400, f"unknown_{kind}", str(exc)) from exc
        chosen = choose(view["files"], **{kind: value})
    text = write_m3u([item(entry["filename"], entry) for entry in chosen])
    response = Response(text, mimetype="audio/x-mpegurl")
    response.charset = "utf-8"
    label = re.sub(r"[^A-Za-z0-9-]+", "_", value)[:40]
    response.headers["Content-Disposition"] = f'attachment; filename="genrelens-{job_id}-{kind}-{label}.m3u8"'
    response.headers["Cache-Control"] = "no-store"
    return response

"""GET /: the web page."""
from __future__ import annotations

from flask import Blueprint, current_app, render_template

page = Blueprint("page", __name__)


@page.get("/")
def index():
    """The page, with the settings it tells its users: the upload limit, and how long a batch and a shared
    result are kept (the page words them: static/js/format.js, ``keptFor``)."""
    settings = current_app.config
    return render_template("index.html", max_upload_mb=f"{settings['MAX_UPLOAD_MB']:g}",
                           job_ttl_s=f"{settings['JOB_TTL_S']:.0f}", result_ttl_s=f"{settings['RESULT_TTL_S']:.0f}")

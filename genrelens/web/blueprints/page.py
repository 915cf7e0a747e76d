"""GET /: the web page."""
from __future__ import annotations

from flask import Blueprint, current_app, render_template

page = Blueprint("page", __name__)


@page.get("/")
def index():
    return render_template("index.html", max_upload_mb=f"{current_app.config['MAX_UPLOAD_MB']:g}")

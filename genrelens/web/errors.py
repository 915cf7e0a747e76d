"""Every answer's shape: JSON errors (``{"error": {"code", "message"}}``) and the security headers."""
from __future__ import annotations

import logging

from flask import Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def error_response(status: int, code: str, message: str) -> Response:
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    return response


# The page's own origin only; blob: for the local file wavesurfer plays and its worker; and the one
# outside host the page loads from: Wikimedia Commons' image server, for the guide's artist photos
# (static/js/faces.js; each shown with its author and licence, initials when it cannot load).
PHOTO_HOST = "https://upload.wikimedia.org"
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    f"img-src 'self' data: blob: {PHOTO_HOST}",
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
    """A request the server layer (genrelens.web.serving) refused before any route ran: 503 when the
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


def register(app) -> None:
    """JSON for every error, the server layer's refusals, and the security headers on every answer."""
    app.register_error_handler(ApiError, api_error)
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(Exception, internal_error)
    app.before_request(server_refusal)
    app.after_request(security_headers)

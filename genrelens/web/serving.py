"""The server layer between gunicorn's asyncio worker and the Flask app: slow clients, bursts, shutdown.

``ServingWorker`` (``worker_class`` in gunicorn.conf.py) is gunicorn's own asyncio ``asgi`` worker:
every connection is a coroutine on one event loop per worker, so a client that dribbles its request
costs a socket and a few KB, never a thread. It adds a deadline for a new connection's headers
(``HEADER_TIMEOUT_S``: 408 and closed; gunicorn itself only bounds the idle time between kept-alive
requests) and serves the Flask (WSGI) app through ``ServingFront``:

1. **Body first, with a deadline.** The whole request body is read on the event loop into a spooled
   temp file (memory up to 1 MB, then an unlinked file) before any Flask code runs. The body must
   arrive within ``BODY_TIMEOUT_S`` seconds plus one second for every ``BODY_MIN_RATE`` bytes that
   arrived (Apache mod_reqtimeout's ``body=20,MinRate=...`` rule): a client that sends one byte a
   second is answered 408 and dropped after ``BODY_TIMEOUT_S``, a slow but honest phone upload is not.
   A ``Content-Length`` over the app's upload limit is passed straight on (Flask answers 413 unread);
   a chunked body is cut off at the limit (413 too) and otherwise reaches Flask with its length.
2. **Bounded analysis queue.** ``POST /file-upload`` (the CPU-bound route) and ``POST /jobs`` (up to
   ``MAX_UPLOAD_MB`` written to the database) run at most ``ANALYSIS_SLOTS`` at a time per worker, with at
   most ``ANALYSIS_QUEUE`` more waiting (as coroutines, holding no thread); beyond that they are answered
   at once with 503, ``Retry-After: RETRY_AFTER_S`` and a JSON error. Every other route goes straight
   through.
3. **Then Flask, in a thread.** The buffered request runs in a pool of ``WSGI_THREADS`` threads
   (a2wsgi's ``WSGIMiddleware``), so ``/healthz`` and the pictures never wait behind an analysis.

Refusals (408, 503) are answered by the Flask app itself, so they carry its JSON error shape and its
security headers: the request reaches it with ``environ["genrelens.refusal"]`` set and no body. What
gunicorn answers itself, before any app can run (a malformed request: 400, 414, 431, 501; headers too
slow: 408), is given the same shape and headers by the protocol (``_ServingProtocol``).
SIGTERM is gunicorn's graceful stop: listeners close, every connection in flight (a body still
arriving, an analysis waiting or running) is answered within ``graceful_timeout``, then the worker exits.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus

from a2wsgi import WSGIMiddleware
from gunicorn.asgi.protocol import ASGIProtocol
from gunicorn.workers import gasgi

from genrelens.web.errors import SECURITY_HEADERS

log = logging.getLogger(__name__)

REFUSAL = "genrelens.refusal"  # the WSGI environ key Flask reads (genrelens.web.errors.server_refusal)
ANALYSIS_ROUTES = frozenset({("POST", "/file-upload"), ("POST", "/jobs")})  # through the gate (2. below)
SPOOL_MEMORY_BYTES = 1 << 20
CHUNK = 1 << 16


@dataclass(frozen=True)
class ServingSettings:
    """The server layer's settings, per gunicorn worker; from the environment (docs/operations.md#settings)."""

    body_timeout_s: float = 20.0  # the whole body, at least ...
    body_min_rate: float = 16384.0  # ... plus 1 s per this many bytes received (16 KB/s: 128 kbit/s)
    analysis_slots: int = 1  # analyses running at once (CPU-bound: 2 cores, 2 workers)
    analysis_queue: int = 8  # analyses waiting for a slot; the next one gets 503
    retry_after_s: int = 3
    wsgi_threads: int = 8
    header_timeout_s: float = 10.0  # a new connection's request line and headers

    @classmethod
    def from_env(cls, env: dict | None = None) -> "ServingSettings":
        env = os.environ if env is None else env
        defaults = cls()
        return cls(
            body_timeout_s=float(env.get("BODY_TIMEOUT_S", defaults.body_timeout_s)),
            body_min_rate=float(env.get("BODY_MIN_RATE", defaults.body_min_rate)),
            analysis_slots=max(1, int(env.get("ANALYSIS_SLOTS", defaults.analysis_slots))),
            analysis_queue=max(0, int(env.get("ANALYSIS_QUEUE", defaults.analysis_queue))),
            retry_after_s=max(1, int(env.get("RETRY_AFTER_S", defaults.retry_after_s))),
            wsgi_threads=max(2, int(env.get("WSGI_THREADS", defaults.wsgi_threads))),
            header_timeout_s=float(env.get("HEADER_TIMEOUT_S", defaults.header_timeout_s)),
        )


class Busy(Exception):
    pass


class AnalysisGate:
    """At most ``slots`` holders at once and ``queue`` waiting; one event loop, so no locks are needed."""

    def __init__(self, slots: int, queue: int):
        self._slots = asyncio.Semaphore(slots)
        self._limit = slots + queue
        self.admitted = 0  # running + waiting

    async def __aenter__(self) -> None:
        if self.admitted >= self._limit:
            raise Busy
        self.admitted += 1
        try:
            await self._slots.acquire()
        except BaseException:
            self.admitted -= 1
            raise

    async def __aexit__(self, *exc) -> None:
        self._slots.release()
        self.admitted -= 1


class BodyTimeout(Exception):
    pass


class ClientGone(Exception):
    pass


class _Body:
    """The request body, read whole before the app runs, and replayed to it as ASGI messages."""

    def __init__(self):
        self.file = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES)
        self.size = 0

    async def read(self, receive, settings: ServingSettings, limit: int | None) -> bool:
        """Read until the end of the body; False when it grew past ``limit`` (reading stops there).

        Raises BodyTimeout when it does not arrive in time and ClientGone when the client left.
        """
        loop = asyncio.get_running_loop()
        started = loop.time()
        while True:
            remaining = started + settings.body_timeout_s + self.size / settings.body_min_rate - loop.time()
            if remaining <= 0:
                raise BodyTimeout
            try:
                message = await asyncio.wait_for(receive(), remaining)
            except TimeoutError:
                raise BodyTimeout from None
            if message["type"] == "http.disconnect":
                raise ClientGone
            chunk = message.get("body", b"")
            if chunk:
                self.file.write(chunk)
                self.size += len(chunk)
            if limit is not None and self.size > limit:
                return False
            if not message.get("more_body", False):
                return True

    def replay(self):
        self.file.seek(0)

        async def receive() -> dict:
            chunk = self.file.read(CHUNK)
            return {"type": "http.request", "body": chunk, "more_body": self.file.tell() < self.size}

        return receive

    def close(self) -> None:
        self.file.close()


def _with_length(scope: dict, length: int) -> dict:
    """The scope with the body's real length (chunked uploads included) and no transfer coding."""
    headers = [(k, v) for k, v in scope["headers"] if k not in (b"content-length", b"transfer-encoding")]
    return scope | {"headers": [*headers, (b"content-length", str(length).encode())]}


def _declared_length(scope: dict) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _no_body() -> dict:
    return {"type": "http.request", "body": b"", "more_body": False}


def _pass_refusal(app: Callable) -> Callable:
    """The WSGI app, told about a refusal through its environ (a2wsgi puts the ASGI scope there)."""

    def wsgi(environ, start_response):
        refusal = environ.get("asgi.scope", {}).get(REFUSAL)
        if refusal is not None:
            environ[REFUSAL] = refusal
        return app(environ, start_response)

    return wsgi


def _conventional_case(send):
    """a2wsgi lowercases header names (ASGI's convention); send them as the app and the sync worker did
    (``Content-Type``, ``Retry-After``): HTTP says case does not matter, not every client agrees."""

    async def wrapped(message: dict) -> None:
        if message["type"] == "http.response.start":
            message = message | {"headers": [(b"-".join(part.capitalize() for part in name.split(b"-")), value)
                                             for name, value in message["headers"]]}
        await send(message)

    return wrapped


class ServingFront:
    """ASGI app: buffers each body under a deadline, bounds the analyses, runs Flask in threads."""

    def __init__(self, wsgi_app: Callable, settings: ServingSettings | None = None, max_body: int | None = None,
                 analysis_routes: frozenset = ANALYSIS_ROUTES):
        self.settings = settings or ServingSettings.from_env()
        self.max_body = max_body
        self.analysis_routes = analysis_routes
        self._app = WSGIMiddleware(_pass_refusal(wsgi_app), workers=self.settings.wsgi_threads)
        self._gate: AnalysisGate | None = None  # made on the worker's event loop, at first use

    @property
    def gate(self) -> AnalysisGate:
        if self._gate is None:
            self._gate = AnalysisGate(self.settings.analysis_slots, self.settings.analysis_queue)
        return self._gate

    async def __call__(self, scope: dict, receive, send) -> None:
        if scope["type"] == "lifespan":
            while True:  # nothing to start or stop: the app is loaded (and preloaded) by gunicorn
                kind = (await receive())["type"]
                if kind == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif kind == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":  # websocket: this app has none
            await self._app(scope, receive, send)
            return
        send = _conventional_case(send)
        declared = _declared_length(scope)
        if self.max_body is not None and declared is not None and declared > self.max_body:
            await self._app(scope, _no_body, send)  # Flask answers 413 without reading it
            return
        body = _Body()
        try:
            try:
                complete = await body.read(receive, self.settings, self.max_body)
            except ClientGone:
                return
            except BodyTimeout:
                log.info("dropped %s %s from %s: %d bytes of body in the allowed time", scope["method"],
                         scope["path"], (scope.get("client") or ("?",))[0], body.size)
                await self._refuse(scope, send, 408, "body_timeout",
                                   f"The upload arrived too slowly: a body must arrive within "
                                   f"{self.settings.body_timeout_s:g} s plus 1 s per "
                                   f"{self.settings.body_min_rate / 1024:g} KB.")
                return
            scope = _with_length(scope, body.size)
            if not complete:  # chunked and over the limit: Flask answers 413 from the length
                await self._app(scope, _no_body, send)
                return
            if (scope["method"], scope["path"]) not in self.analysis_routes:
                await self._app(scope, body.replay(), send)
                return
            try:
                async with self.gate:
                    await self._app(scope, body.replay(), send)
            except Busy:
                await self._refuse(scope, send, 503, "busy",
                                   "The server is busy with other analyses; please try again in a few seconds.",
                                   {"Retry-After": str(self.settings.retry_after_s)})
        finally:
            body.close()

    async def _refuse(self, scope: dict, send, status: int, code: str, message: str, headers: dict | None = None):
        refusal = {"status": status, "code": code, "message": message, "headers": headers or {}}
        await self._app(_with_length(scope, 0) | {REFUSAL: refusal}, _no_body, send)


# gunicorn's own answers, as codes of the API's error shape
GUNICORN_ERROR_CODES = {400: "bad_request", 408: "header_timeout", 414: "uri_too_long", 426: "upgrade_required",
                        431: "headers_too_large", 500: "internal_error", 501: "not_implemented"}


class _ServingProtocol(ASGIProtocol):
    """gunicorn's HTTP/1 protocol with a deadline for a new connection's first request line and headers,
    and gunicorn's own error answers in the app's shape.

    gunicorn bounds the wait for a kept-alive connection's next request (``keepalive``) but not for
    the first one, and no ASGI app runs before the headers are complete, so this is the one place a
    client that sends its headers a byte at a time can be dropped: 408 after ``header_timeout_s``.
    """

    header_timeout_s = ServingSettings.header_timeout_s
    _header_timer = None

    def connection_made(self, transport):
        super().connection_made(transport)
        self._header_timer = self.worker.loop.call_later(self.header_timeout_s, self._headers_too_slow)

    def _on_headers_complete(self):
        self._cancel_header_timer()
        return super()._on_headers_complete()

    def connection_lost(self, exc):
        self._cancel_header_timer()
        super().connection_lost(exc)

    def _cancel_header_timer(self):
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self):
        self._header_timer = None
        if self._current_request is None and not self._closed:
            log.info("dropped a connection from %s: no complete request headers in %g s",
                     (self.transport.get_extra_info("peername") or ("?",))[0], self.header_timeout_s)
            self._send_error_response(408, f"The request's headers did not arrive within {self.header_timeout_s:g} s.")
            self._close_transport()
            if self._request_ready is not None:
                self._request_ready.set()  # wake the connection loop, which then sees the close

    def _send_error_response(self, status, message, extra_headers=()):
        """gunicorn's plain-text refusal as the API's JSON error, with the security headers of every answer."""
        body = json.dumps({"error": {"code": GUNICORN_ERROR_CODES.get(status, "http_error"),
                                     "message": str(message)[:300]}}).encode()
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = "Error"
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                   *SECURITY_HEADERS.items(), *extra_headers, ("Connection", "close")]
        head = f"HTTP/1.1 {status} {reason}\r\n" + "".join(f"{name}: {value}\r\n" for name, value in headers) + "\r\n"
        self._safe_write(head.encode("latin-1") + body)


class ServingWorker(gasgi.ASGIWorker):
    """gunicorn's asyncio worker serving the WSGI app through ``ServingFront``, with a header deadline.

    ``worker_class = "genrelens.web.serving.ServingWorker"`` (gunicorn.conf.py).
    """

    def init_process(self):
        settings = ServingSettings.from_env()
        # gunicorn's worker makes one protocol per connection by this module-level name; this
        # process (a forked worker) serves with the subclass.
        gasgi.ASGIProtocol = type("ServingProtocol", (_ServingProtocol,),
                                  {"header_timeout_s": settings.header_timeout_s})
        self.serving_settings = settings
        super().init_process()

    def load_wsgi(self):
        super().load_wsgi()
        flask_app = self.asgi
        self.asgi = ServingFront(flask_app, self.serving_settings,
                                 max_body=getattr(flask_app, "config", {}).get("MAX_CONTENT_LENGTH"))
        self.log.info("serving: %s", self.serving_settings)

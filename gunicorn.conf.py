"""gunicorn settings read automatically from the working directory: the Procfile and `make run` share them.

The worker: gunicorn's own asyncio ``asgi`` worker with ``genrelens.web.serving.ServingFront`` in front of
the Flask app (``genrelens.web.serving.ServingWorker``). Connections live on the event loop, so slow
clients cost no thread; headers must arrive within ``HEADER_TIMEOUT_S`` and each body in time
(``BODY_TIMEOUT_S``, ``BODY_MIN_RATE``; 408 otherwise); analyses run at most ``ANALYSIS_SLOTS`` at a
time per worker with at most ``ANALYSIS_QUEUE`` waiting (503 with Retry-After beyond); Flask runs in
``WSGI_THREADS`` threads. With another worker class (``-k sync``) the app is served as the plain WSGI
app it is, with none of that.

With ``preload_app`` the models and librosa are loaded and warmed once in the master; each forked
worker then warms its own copy, because the first LiteRT call after a fork costs 50-70 ms more than
the rest. XNNPACK's threads do not survive a fork, so the master frees its engines (LiteRT interpreters,
ONNX Runtime sessions) before forking and every worker makes its own (``genrelens.models.runtimes.Network``).

The embedded job pool (``python -m genrelens.jobs.pool``) is started beside the workers once the server is
ready, restarted by a thread of the master when it dies (``/healthz`` says ``degraded`` while it is down:
``genrelens.jobs.supervision``) and stopped when the server exits, unless ``BROKER_URL`` sends jobs to
Celery or ``JOB_WORKERS`` is 0.

SIGTERM stops gracefully: no new connections; requests in flight (bodies still arriving, queued and
running analyses) are answered within ``graceful_timeout``, then the workers and the master exit.
"""

worker_class = "genrelens.web.serving.ServingWorker"  # gunicorn's asyncio worker + genrelens.web.serving.ServingFront
preload_app = True
timeout = 120  # the worker heartbeat; also the longest gunicorn waits for any one piece of a body
graceful_timeout = 60  # SIGTERM: how long requests in flight may still take
keepalive = 5
# No runtime control socket: signals stop and reload the server, and every gunicorn on a machine
# (tests, benches) would otherwise share $HOME/.gunicorn/gunicorn.ctl.
control_socket_disable = True


def _classifier(app):
    return app.extensions["genre"]["classifier"]


def when_ready(server):
    """The embedded job pool starts with the server, supervised (unless BROKER_URL sends jobs to Celery).
    Before the first web worker is forked, so the workers share the supervisor's view of the pool."""
    from genrelens.jobs.pool import start_pool_process, stop_pool_process
    from genrelens.jobs.supervision import PoolSupervisor

    config = server.app.wsgi().config
    server.genrelens_pool = PoolSupervisor(lambda: start_pool_process(config), stop_pool_process)
    server.genrelens_pool.start()


def on_exit(server):
    supervisor = getattr(server, "genrelens_pool", None)
    if supervisor is not None:
        supervisor.stop()


def pre_fork(server, worker):
    if server.cfg.preload_app:
        _classifier(server.app.wsgi()).release()


def _fewer_malloc_arenas(count: int = 2) -> None:
    """glibc gives each thread that allocates its own malloc arena; Flask's threads each ran analyses in
    turn and each kept its high-water mark (worker RSS 350 -> 486 MB over 150 uploads). Two arenas keep
    one analysis's memory reused (MALLOC_ARENA_MAX in the environment would be read too late: the
    worker is forked from a master whose malloc is already set up)."""
    import ctypes
    import ctypes.util

    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    if hasattr(libc, "mallopt"):
        libc.mallopt(-8, count)  # M_ARENA_MAX


def post_fork(server, worker):
    _fewer_malloc_arenas()
    _classifier(worker.app.wsgi()).warm_up()


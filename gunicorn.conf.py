"""gunicorn settings read automatically from the working directory (the Procfile's and `make run`'s).

With ``--preload`` the models and librosa are loaded and warmed once in the master; each forked
worker then warms its own copy, because the first LiteRT call after a fork costs 50-70 ms more than
the rest. XNNPACK's threads do not survive a fork, so the master frees its musicnn interpreter
before forking and every worker makes its own (``genrelens.models.MusicnnNetwork``).
"""


def _classifier(app):
    return app.extensions["genre"]["classifier"]


def pre_fork(server, worker):
    if server.cfg.preload_app and _classifier(server.app.wsgi()).musicnn:
        _classifier(server.app.wsgi()).musicnn.network.release()


def post_fork(server, worker):
    _classifier(worker.app.wsgi()).warm_up()

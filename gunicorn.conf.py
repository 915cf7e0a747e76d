"""gunicorn settings read automatically from the working directory (the Procfile's and `make run`'s).

With ``--preload`` the model and librosa are loaded and warmed once in the master; each forked worker
then warms its own copy, because the first LiteRT call after a fork costs 50-70 ms more than the rest.
"""


def post_fork(server, worker):
    app = worker.app.wsgi()
    app.extensions["genre"]["classifier"].warm_up()

"""The web app's entry point: the app factory lives in ``genrelens.web.factory``.

    gunicorn 'app:create_app()'     # production (see Procfile)
    python app.py                   # development server on http://127.0.0.1:5000, with the job pool
"""
from __future__ import annotations

import logging
import os

from genrelens.web.factory import create_app

__all__ = ["create_app"]

if __name__ == "__main__":
    from genrelens.jobs.pool import start_pool_process, stop_pool_process

    logging.basicConfig(level=logging.INFO)
    application = create_app()
    pool = start_pool_process(application.config)  # the embedded job pool, as gunicorn.conf.py starts it
    try:
        application.run(host="127.0.0.1", port=int(os.environ.get("PORT", 5000)))
    finally:
        stop_pool_process(pool)

# GenreLens web service: the Procfile's web command in a slim image, as a non-root user.
#   docker build -t genrelens .
#   docker run --rm -p 5000:5000 genrelens            # then http://127.0.0.1:5000 ; PORT and WEB_CONCURRENCY as on any Procfile platform
#
# Uploads are decoded in-process by PyAV (FFmpeg's libraries inside the `av` wheel), so there is no
# Debian ffmpeg: the image decodes exactly as every Procfile deploy does.
# tests/test_deploy.py checks this file against the Procfile and runs its command from a clean checkout.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1

WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir --disable-pip-version-check -r requirements.txt

# The code stays root's and read-only; the service writes only to /tmp (uploads) and its home (the database
# in ~/.local/state/genrelens unless ANALYSIS_DIR or DATABASE_URL says, numba's compiled-function cache for
# librosa, matplotlib's config). To keep jobs and analyses across containers, mount a volume of this user's
# (uid 10001, mode 0700) and point ANALYSIS_DIR at it.
COPY . .
RUN useradd --create-home --uid 10001 --user-group --shell /usr/sbin/nologin genrelens
USER 10001:10001
ENV HOME=/home/genrelens NUMBA_CACHE_DIR=/home/genrelens/.cache/numba
# librosa's numba code compiled once into the image (site-packages is root's), not at every start
RUN python -m genrelens.analysis.warm

EXPOSE 5000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '5000'), timeout=4)"]
# The Procfile's web command; `exec` makes gunicorn PID 1, so `docker stop` (SIGTERM) reaches it. Give it
# gunicorn.conf.py's graceful_timeout to finish requests in flight: `docker stop -t 60`.
CMD ["/bin/sh", "-c", "exec gunicorn --workers ${WEB_CONCURRENCY:-2} --bind 0.0.0.0:${PORT:-5000} 'app:create_app()'"]

"""The library tagger's ``--server`` mode: a GenreLens service's job queue classifies, this machine uploads.

Files go up in batches (``POST /jobs``, the field ``file`` once per file), each upload kept under
``--batch-mb`` and ``--batch-files`` so it stays under the server's ``MAX_UPLOAD_MB``; at most
``JOBS_IN_FLIGHT`` jobs are open at once, and each is polled (``GET /jobs/<id>``) until its files are
done, every finished file becoming a row at once. The server's answers are followed:

- 503 (``queue_full``): wait ``Retry-After`` seconds, polling the open jobs meanwhile, then send again;
- 413 (``too_large``), 400 ``too_many_files``, or the connection cut twice during the upload (what a
  client without ``Expect: 100-continue`` sees of gunicorn's 413): the batch is split in two and sent
  again; a single file over the limit is a failed row (``too_large``);
- a job the server no longer knows (404: expired, or the server restarted): its unfinished files are
  failed rows (``job_lost``), so the next run retries them;
- 400 (``unknown_model``, ...), another error, or a server unreachable for ``ATTEMPTS`` tries: the run stops (exit 2).

A file this machine cannot read (missing, empty, ...) is a failed row with the command line's words
and is not uploaded. A file name that is not UTF-8 goes up printable (``caf\\xe9.mp3``); the rows
are matched to the files by their place in the job, not by name. Only the standard library is used
(urllib and a small multipart encoder).
"""
from __future__ import annotations

import json
import logging
import mimetypes
import os
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from genrelens.library.outcomes import Fatal, Outcome, Track, tag_file
from genrelens.problems import FileProblem, check_readable
from genrelens.results_csv import printable

log = logging.getLogger("genrelens.library")

JOBS_IN_FLIGHT = 2
POLL_S = 1.0
ATTEMPTS = 4  # tries of a request that did not reach the server, 1 s, 2 s, 4 s apart
TIMEOUT_S = 120.0
PART_OVERHEAD = 512  # bytes of multipart headers per file, counted against --batch-mb
SPLIT_ON = ("too_large", "too_many_files")  # refusals a smaller batch may not get
# gunicorn's front answers an upload over MAX_UPLOAD_MB with 413 and closes the connection before the
# body is all sent, so urllib (no "Expect: 100-continue") sees a broken pipe instead of the answer.
CUT_OFF = {"code": "too_large", "message": "The server closed the connection during the upload: "
                                           "it is larger than the server's upload limit (MAX_UPLOAD_MB)."}


@dataclass
class Answer:
    status: int
    body: dict
    headers: Mapping = field(default_factory=dict)  # the response's (case-insensitive) headers


@dataclass
class Job:
    tracks: list[Track]
    reported: set[int] = field(default_factory=set)


class Client:
    """The job API over urllib; HTTP errors come back as answers, an unreachable server as Fatal."""

    def __init__(self, server: str, timeout: float = TIMEOUT_S):
        self.base = server.rstrip("/")
        self.timeout = timeout

    def request(self, method: str, path: str, body: bytes | None = None, content_type: str | None = None) -> Answer:
        headers = {"Accept": "application/json", **({"Content-Type": content_type} if content_type else {})}
        for attempt in range(ATTEMPTS):
            request = urllib.request.Request(self.base + path, data=body, method=method, headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return Answer(response.status, _json(response.read()), response.headers)
            except urllib.error.HTTPError as exc:
                return Answer(exc.code, _json(exc.read()), exc.headers)
            except (urllib.error.URLError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                if body and attempt >= 1 and isinstance(reason, (BrokenPipeError, ConnectionResetError)):
                    return Answer(413, {"error": CUT_OFF})  # twice cut off mid-upload: the size, not the network
                if attempt == ATTEMPTS - 1:
                    raise Fatal(f"the server {self.base} cannot be reached ({reason})") from exc
                log.info("%s %s failed (%s); trying again", method, path, reason)
                time.sleep(2 ** attempt)
        raise AssertionError("unreachable")

    def submit(self, tracks: list[Track], model: str | None) -> Answer:
        body, content_type = multipart([track.path for track in tracks])
        query = "?" + urllib.parse.urlencode({"model": model}) if model else ""
        return self.request("POST", "/jobs" + query, body, content_type)

    def job(self, job_id: str) -> Answer:
        return self.request("GET", f"/jobs/{urllib.parse.quote(job_id)}")


def _json(raw: bytes) -> dict:
    try:
        value = json.loads(raw or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def multipart(paths: list[str]) -> tuple[bytes, str]:
    """A multipart/form-data body with each file in a field named ``file``, and its Content-Type."""
    boundary = uuid.uuid4().hex
    parts = []
    for path in paths:
        name = printable(os.path.basename(path)).replace('"', "%22").replace("\r", " ").replace("\n", " ")
        kind = mimetypes.guess_type(path)[0] or "application/octet-stream"
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
                     f"Content-Type: {kind}\r\n\r\n".encode())
        with open(path, "rb") as handle:
            parts.append(handle.read())
        parts.append(b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def batches(tracks: list[Track], max_mb: float, max_files: int) -> Iterator[list[Track]]:
    """Consecutive groups under both limits; a file over the byte limit alone goes up alone."""
    limit, batch, size = max_mb * 1024 * 1024, [], 0
    for track in tracks:
        cost = os.path.getsize(track.path) + PART_OVERHEAD
        if batch and (size + cost > limit or len(batch) >= max_files):
            yield batch
            batch, size = [], 0
        batch.append(track)
        size += cost
    if batch:
        yield batch


def outcome_of(track: Track, entry: dict) -> Outcome:
    """A job's file entry as an Outcome."""
    if entry.get("status") == "done":
        genres = entry.get("genres") or ([{"genre": entry["genre"], "probability": entry.get("confidence") or 0}]
                                         if entry.get("genre") else [])
        return Outcome(track, genres=genres[:3], analysis_id=entry.get("analysis_id"),
                       glance={key: entry.get(key) for key in ("duration_s", "style", "tags")})
    error = entry.get("error") or {"code": "failed", "message": "The server could not classify this file."}
    return Outcome(track, error=error)


def remote_outcomes(server: str, tracks: list[Track], model: str | None, batch_mb: float, batch_files: int,
                    write_tags: bool, client: Client | None = None) -> Iterator[Outcome]:
    """Each file's Outcome as the server finishes it."""
    client = client or Client(server)
    readable = []
    for track in tracks:
        try:
            check_readable(track.path)
            readable.append(track)
        except FileProblem as problem:
            yield Outcome(track, error={"code": problem.code, "message": problem.message})
    pending, jobs, not_before = deque(batches(readable, batch_mb, max(1, batch_files))), {}, 0.0
    while pending or jobs:
        if pending and len(jobs) < JOBS_IN_FLIGHT and time.monotonic() >= not_before:
            batch = pending.popleft()
            answer = client.submit(batch, model)
            if answer.status == 202 and answer.body.get("id"):
                jobs[answer.body["id"]] = Job(batch)
                log.info("job %s: %d file(s) queued", answer.body["id"], len(batch))
                continue
            if answer.status == 503:
                pending.appendleft(batch)
                wait = _retry_after(answer)
                log.info("the server's queue is full; sending again in %g s", wait)
                not_before = time.monotonic() + wait
            elif _error(answer)["code"] in SPLIT_ON and len(batch) > 1:
                half = len(batch) // 2
                pending.extendleft([batch[half:], batch[:half]])
                continue
            elif answer.status == 413:  # one file over the limit
                yield Outcome(batch[0], error=_error(answer))
                continue
            else:
                raise Fatal(f"the server refused the upload ({answer.status}: {_error(answer)['message']})")
        for job_id in list(jobs):
            for outcome in _poll(client, job_id, jobs):
                if write_tags and not outcome.error:
                    tag_file(outcome)
                yield outcome
        if jobs or pending:
            time.sleep(POLL_S)


def _poll(client: Client, job_id: str, jobs: dict[str, Job]) -> Iterator[Outcome]:
    """The newly finished files of one job; the job is forgotten once all its files are reported."""
    job = jobs[job_id]
    answer = client.job(job_id)
    if answer.status == 404:
        log.warning("job %s is gone from the server; its unfinished files are failed rows, retried next run", job_id)
        lost = {"code": "job_lost", "message": "The server lost the job before this file was classified."}
        for index, track in enumerate(job.tracks):
            if index not in job.reported:
                yield Outcome(track, error=lost)
        del jobs[job_id]
        return
    if answer.status != 200:
        raise Fatal(f"the server did not answer for job {job_id} ({answer.status}: {_error(answer)['message']})")
    for entry in answer.body.get("files", []):
        index = entry.get("index")
        if entry.get("status") in ("done", "failed") and isinstance(index, int) and 0 <= index < len(job.tracks) \
                and index not in job.reported:
            job.reported.add(index)
            yield outcome_of(job.tracks[index], entry)
    if answer.body.get("status") == "done":
        silent = {"code": "no_answer", "message": "The server finished the job without an answer for this file."}
        for index, track in enumerate(job.tracks):
            if index not in job.reported:
                yield Outcome(track, error=silent)
        del jobs[job_id]


def _retry_after(answer: Answer) -> float:
    try:
        return max(1.0, float(answer.headers.get("Retry-After", 5)))
    except ValueError:
        return 5.0


def _error(answer: Answer) -> dict:
    error = answer.body.get("error")
    if isinstance(error, dict) and "code" in error:
        return {"code": error["code"], "message": error.get("message", "")}
    code = "too_large" if answer.status == 413 else f"http_{answer.status}"
    return {"code": code, "message": f"The server answered {answer.status}."}


def smoke(server: str, paths: list[str], model: str | None = None) -> list[dict]:
    """The CSV rows a ``--server`` run would write for these files, without a CSV: for a quick check or a test."""
    tracks = [Track.named(path, path) for path in paths]
    return [outcome.row() for outcome in remote_outcomes(server, tracks, model, 40.0, 50, write_tags=False)]

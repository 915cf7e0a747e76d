"""What went wrong with one file, as the API answers it: the same status, code and words whether the
file came in a synchronous upload, a job, the command line or the library tagger."""
from __future__ import annotations

import os

from genrelens.analysis.audio import DecodeError, DecoderUnavailable
from genrelens.analysis.pipeline import AnalysisError, GenreClassifier


def file_problem(exc: BaseException) -> tuple[int, str, str] | None:
    """(HTTP status, code, message) for a fault of the file or of the decoder; None for our own bugs."""
    if isinstance(exc, DecoderUnavailable):
        return 503, "decoder_unavailable", "The audio decoder is not working on this server; please try again later."
    if isinstance(exc, DecodeError):
        return 415, "unsupported_media", f"This file is not audio we can read ({exc})."
    if isinstance(exc, AnalysisError):
        return 422, exc.code, exc.message
    return None


class FileProblem(Exception):
    """A file the command cannot classify: ``code`` and ``message`` as the API would answer."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def check_readable(path: str) -> None:
    """The checks the API makes before decoding (it receives a file, so it never sees the OS errors)."""
    if not os.path.exists(path):
        raise FileProblem("not_found", "There is no such file.")
    if os.path.isdir(path):
        raise FileProblem("not_a_file", "This is a folder, not a file.")
    if not os.access(path, os.R_OK):
        raise FileProblem("unreadable", "This file cannot be read (permission denied).")
    if os.path.getsize(path) == 0:
        raise FileProblem("empty_file", "The file is empty.")  # the API's words (genrelens/web/blueprints/upload.py)


def classify(classifier: GenreClassifier, path: str, model: str | None):
    """The analysis of one file, or FileProblem with the API's code and message."""
    check_readable(path)
    try:
        analysis, _ = classifier.analyze_file(path, model)
    except DecoderUnavailable as exc:  # this machine's decoder, not a server's
        raise FileProblem("decoder_unavailable", f"The audio decoder (PyAV) is not working: {exc}") from exc
    except (DecodeError, AnalysisError) as exc:  # the API's 415 and 422: its code and words
        _, code, message = file_problem(exc)
        raise FileProblem(code, message) from exc
    except OSError as exc:  # vanished or became unreadable while decoding
        raise FileProblem("unreadable", f"This file cannot be read ({exc.strerror or exc}).") from exc
    return analysis

"""What went wrong with one file, as the API answers it: the same status, code and words whether the
file came in a synchronous upload or a job."""
from __future__ import annotations

from genrelens.audio import DecodeError, DecoderUnavailable
from genrelens.pipeline import AnalysisError


def file_problem(exc: BaseException) -> tuple[int, str, str] | None:
    """(HTTP status, code, message) for a fault of the file or of the decoder; None for our own bugs."""
    if isinstance(exc, DecoderUnavailable):
        return 503, "decoder_unavailable", "The audio decoder is not working on this server; please try again later."
    if isinstance(exc, DecodeError):
        return 415, "unsupported_media", f"This file is not audio we can read ({exc})."
    if isinstance(exc, AnalysisError):
        return 422, exc.code, exc.message
    return None

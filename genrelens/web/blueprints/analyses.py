"""/analyses: stored results, their pictures and their waveform peaks."""
from __future__ import annotations

from flask import Blueprint, Response, jsonify

from genrelens.analysis.peaks import peaks_json
from genrelens.web.context import current_classifier, current_store, with_links
from genrelens.web.errors import ApiError
from genrelens.web.pictures import KINDS, render

analyses = Blueprint("analyses", __name__, url_prefix="/analyses")


@analyses.get("/<analysis_id>")
def analysis(analysis_id: str):
    result = current_store().result(analysis_id)
    if result is None:
        raise ApiError(404, "not_found", "No such analysis.")
    return jsonify(with_links(analysis_id, result))


def _missing_audio(analysis_id: str) -> ApiError:
    """No signal to draw from: 410 when the analysis stands but its audio has been dropped, else 404."""
    if current_store().result(analysis_id) is not None:
        return ApiError(410, "expired", "The audio behind this analysis has been dropped (the store keeps audio "
                                        "for a while only); the analysis itself stands. Upload the file again for pictures.")
    return ApiError(404, "not_found", "No such analysis.")


@analyses.get("/<analysis_id>/<kind>.png")
def picture(analysis_id: str, kind: str):
    if kind not in KINDS:
        raise ApiError(404, "not_found", f"No picture of kind '{kind}'; kinds: {', '.join(KINDS)}.")
    store, settings = current_store(), current_classifier().settings
    png = store.picture(analysis_id, kind)
    if png is None:
        signal = store.signal(analysis_id)
        if signal is None:
            raise _missing_audio(analysis_id)
        png = render(kind, signal, settings.sample_rate, settings.n_mfcc)
        store.put_picture(analysis_id, kind, png)
    response = Response(png, mimetype="image/png")
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


@analyses.get("/<analysis_id>/peaks.json")
def waveform_peaks(analysis_id: str):
    """The analysed signal's waveform peaks: the page draws long files from these (genrelens/analysis/peaks.py)."""
    signal = current_store().signal(analysis_id)
    if signal is None:
        raise _missing_audio(analysis_id)
    response = jsonify(peaks_json(signal, current_classifier().settings.sample_rate))
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response

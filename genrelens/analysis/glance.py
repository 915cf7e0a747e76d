"""What a library overview reads of one analysis besides its genres: its length, its leading electronic
style and its strongest tags. A job keeps it in each file's row and the tagger in each outcome, so a
summary or a playlist of thousands of files never reads a whole result (``genrelens.explore``)."""
from __future__ import annotations

TOP_TAGS = 5


def glance(result: dict) -> dict:
    """``{"duration_s", "style", "tags"}`` of an analysis' answer (``Analysis.to_dict()`` or the API's JSON)."""
    styles = (result.get("electronic") or {}).get("styles") or []
    return {"duration_s": result.get("duration_s"), "style": styles[0] if styles else None,
            "tags": (result.get("tags") or [])[:TOP_TAGS]}

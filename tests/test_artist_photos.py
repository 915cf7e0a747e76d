"""The artist photos of genres.json: each names a Wikimedia Commons file, its author and its licence, and
its two addresses follow from the file name by Commons' own rule (the page shows them, static/js/faces.js)."""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest

from genrelens.web.errors import CONTENT_SECURITY_POLICY, PHOTO_HOST

ROOT = Path(__file__).resolve().parent.parent
THUMB_PX = 120
LICENCES = {  # the licences the guide's photos carry, and their deeds
    "Public domain": "https://creativecommons.org/publicdomain/mark/1.0/",
    "CC0": "https://creativecommons.org/publicdomain/zero/1.0/",
}
CC = re.compile(r"^CC (BY|BY-SA) (2\.0|2\.5|3\.0|4\.0)$")


def artists() -> list[tuple[str, dict]]:
    """(where, artist) for every artist of every genre and electronic style."""
    guide = json.loads((ROOT / "genres.json").read_text(encoding="utf-8"))
    found = []
    for key, entry in guide.items():
        found += [(key, a) for a in entry.get("artists", [])]
        for style, info in entry.get("styles", {}).items():
            found += [(f"{key}/{style}", a) for a in info.get("artists", [])]
    return found


def with_photos() -> list[tuple[str, dict]]:
    return [(where, a) for where, a in artists() if "photo" in a]


def commons_addresses(file: str) -> tuple[str, str]:
    """The file's page and its THUMB_PX-wide thumbnail: Commons keeps a file under the first one and
    two hex digits of the MD5 of its name (spaces as underscores)."""
    digest = hashlib.md5(file.encode("utf-8")).hexdigest()
    name = quote(file, safe="")
    return (f"https://commons.wikimedia.org/wiki/File:{name}",
            f"https://upload.wikimedia.org/wikipedia/commons/thumb/{digest[0]}/{digest[:2]}/{name}/{THUMB_PX}px-{name}")


def test_many_artists_have_a_photo_and_every_artist_a_name():
    assert all(isinstance(a.get("name"), str) and a["name"] for _, a in artists())
    assert len(with_photos()) >= 30


@pytest.mark.parametrize("where,artist", with_photos(), ids=[a["name"] for _, a in with_photos()])
def test_a_photo_names_its_file_author_and_licence(where, artist):
    photo = artist["photo"]
    assert set(photo) == {"file", "author", "license", "license_url", "page", "thumb"}
    assert re.fullmatch(r"[^\s/#?]+\.(jpg|jpeg|png)", photo["file"], re.IGNORECASE), photo["file"]
    assert photo["author"].strip() == photo["author"] and len(photo["author"]) >= 3
    licence = photo["license"]
    if licence in LICENCES:
        assert photo["license_url"] == LICENCES[licence]
    else:
        kind, version = CC.fullmatch(licence).groups()
        assert photo["license_url"] == f"https://creativecommons.org/licenses/{kind.lower()}/{version}/"
    page, thumb = commons_addresses(photo["file"])
    assert photo["page"] == page and photo["thumb"] == thumb
    for url in (photo["page"], photo["thumb"], photo["license_url"]):
        parts = urlsplit(url)
        assert parts.scheme == "https" and parts.netloc and not parts.query and not parts.fragment


def test_each_photo_is_used_once():
    files = [a["photo"]["file"] for _, a in with_photos()]
    assert len(files) == len(set(files))


def test_the_page_may_load_pictures_from_the_photo_host_and_no_other():
    img = next(d for d in CONTENT_SECURITY_POLICY.split("; ") if d.startswith("img-src "))
    assert img.split()[1:] == ["'self'", "data:", "blob:", PHOTO_HOST]
    assert {urlsplit(a["photo"]["thumb"]).netloc for _, a in with_photos()} == {urlsplit(PHOTO_HOST).netloc}
    assert "upload.wikimedia.org" not in CONTENT_SECURITY_POLICY.replace(img, "")

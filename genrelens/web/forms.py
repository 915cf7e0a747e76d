"""Multipart forms whose part headers are not UTF-8.

werkzeug decodes each part's header lines as strict UTF-8 and, when one is not (a file name in Latin-1
from ``curl -F`` on an old file system), silently drops the whole form: the upload was answered
``400 no_file``. Here a byte that is not UTF-8 becomes U+FFFD instead, so the file arrives with a name
that shows where its undecodable bytes were. Everything else is werkzeug's own parsing.
"""
from __future__ import annotations

import types

from flask import Request
from werkzeug import formparser
from werkzeug.datastructures import Headers
from werkzeug.sansio.multipart import HEADER_CONTINUATION_RE, MultipartDecoder


class _LenientDecoder(MultipartDecoder):
    def _parse_headers(self, data: bytes | bytearray) -> Headers:
        headers = []
        for line in HEADER_CONTINUATION_RE.sub(b" ", data).splitlines():
            line = line.strip(b" \t")
            if line:
                name, _, value = line.decode("utf-8", "replace").partition(":")
                headers.append((name.strip(" \t"), value.strip(" \t")))
        return Headers(headers)


class _LenientMultiPartParser(formparser.MultiPartParser):
    # werkzeug's own ``parse``, run with this module's decoder where it names ``MultipartDecoder``
    parse = types.FunctionType(formparser.MultiPartParser.parse.__code__,
                               formparser.__dict__ | {"MultipartDecoder": _LenientDecoder}, "parse",
                               formparser.MultiPartParser.parse.__defaults__)


class _LenientFormDataParser(formparser.FormDataParser):
    def _parse_multipart(self, stream, mimetype, content_length, options):
        parser = _LenientMultiPartParser(stream_factory=self.stream_factory, cls=self.cls,
                                         max_form_memory_size=self.max_form_memory_size,
                                         max_form_parts=self.max_form_parts)
        boundary = options.get("boundary", "").encode("ascii")
        if not boundary:
            raise ValueError("Missing boundary")
        form, files = parser.parse(stream, boundary, content_length)
        return stream, form, files


class LenientRequest(Request):
    """Flask's request, reading part headers that are not UTF-8 (``app.request_class``)."""

    form_data_parser_class = _LenientFormDataParser

"""HTTP over loopback with the stdlib: one request on its own connection, timed; multipart bodies."""
from __future__ import annotations

import http.client
import mimetypes
import time
import uuid
from pathlib import Path


def http_request(port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
                 timeout: float = 180) -> tuple[int, bytes, float]:
    """(status, body, seconds from connect to the last byte of the response) of one request to 127.0.0.1."""
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        data = response.read()
        return response.status, data, time.perf_counter() - started
    finally:
        connection.close()


def multipart(*paths: Path, field: str = "file") -> tuple[bytes, dict]:
    """One multipart/form-data body with ``field`` once per file (a browser's upload of several files), and
    its headers."""
    return multipart_of([(path.name, path.read_bytes()) for path in paths], field)


def multipart_of(files: list[tuple[str, bytes]], field: str = "file") -> tuple[bytes, dict]:
    """``multipart`` of files made in memory, as (name, bytes): a bench that sends thousands of distinct
    takes need not write each to disk first."""
    boundary = f"----bench-{uuid.uuid4().hex}"
    parts = []
    for name, data in files:
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
        parts.append((f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{name}"\r\n'
                      f"Content-Type: {kind}\r\n\r\n").encode() + data + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}", "Content-Length": str(len(body))}

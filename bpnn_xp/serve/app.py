"""The ASGI app of ``bpnn serve`` (Starlette): the drawing page, its assets, ``GET /model`` and ``POST /predict``.

``POST /predict`` takes an image file's bytes (``Content-Type: image/*`` or ``application/octet-stream``), a
multipart form with one image file (``curl -F image=@digit.png``), or JSON ``{"pixels": [[...], ...]}``. Every
request it cannot use gets a 4xx JSON ``{"error": "one line"}``: empty, too large (413), not an image or a
decompression bomb (400), a content type it does not take (415), JSON of the wrong shape (422). Assets ship in
the package (``static/``): the page works offline and its Content-Security-Policy allows nothing from elsewhere.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..errors import BpnnValueError
from .reader import DigitReader, InputError

MAX_UPLOAD_BYTES = 10 << 20  # 10 MiB: any digit drawing or phone photo, nothing that fills memory
STATIC = "static"
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; object-src 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
IMAGE_TYPES = ("image/", "application/octet-stream")


def create_app(reader: DigitReader, allowed_hosts: Sequence[str] | None = None, max_bytes: int = MAX_UPLOAD_BYTES) -> Starlette:
    """The app for one model; ``allowed_hosts`` (Host header names) guards a loopback server against DNS rebinding."""

    async def index(request: Request) -> Response:
        return _secured(FileResponse(_static_file("index.html"), media_type="text/html"))

    async def model(request: Request) -> Response:
        return _secured(JSONResponse(reader.info()))

    async def predict(request: Request) -> Response:
        try:
            return _secured(JSONResponse(await _predict(reader, request, max_bytes)))
        except InputError as exc:
            return _error(str(exc), exc.status)
        except BpnnValueError as exc:  # DataFileError from the decoder: not an image, a bomb, bad pixel values
            return _error(str(exc), 400)

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        detail = exc.detail if isinstance(exc, HTTPException) else "internal error; see the server's terminal"
        return _error(str(detail), status)

    routes = [
        Route("/", index),
        Route("/model", model),
        Route("/predict", predict, methods=["POST"]),
        Mount("/static", StaticFiles(packages=[("bpnn_xp.serve", STATIC)]), name="static"),
    ]
    middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))] if allowed_hosts else []
    return Starlette(routes=routes, middleware=middleware, exception_handlers={HTTPException: http_error, 500: http_error})


def _static_file(name: str) -> str:
    from importlib.resources import files

    return str(files("bpnn_xp.serve").joinpath(STATIC, name))


def _secured(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response


def _error(message: str, status: int) -> Response:
    """One clear line as JSON, the status saying whose fault it is."""
    return _secured(JSONResponse({"error": message}, status_code=status))


async def _predict(reader: DigitReader, request: Request, max_bytes: int) -> dict[str, Any]:
    """The prediction for whatever the request carries (see the module docstring)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if not content_type.startswith(IMAGE_TYPES) and content_type not in ("application/json", "multipart/form-data"):
        raise InputError(f"Content-Type {content_type or '(none)'} is not taken here; send an image file's bytes (image/png, "
                         'image/jpeg...), a multipart form with an image file, or JSON {"pixels": [[...]]}', 415)
    body = await _body(request, max_bytes)
    if content_type == "application/json":
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InputError(f"the body is not valid JSON ({exc})", 400) from None
        except RecursionError:
            raise InputError("the JSON is nested too deeply; send {\"pixels\": [[...], ...]}", 422) from None
        return await run_in_threadpool(reader.read_pixels, payload)
    name = "the upload"
    if content_type == "multipart/form-data":
        body, name = await _form_file(request, body)
    return await run_in_threadpool(reader.read_image, body, name)


async def _body(request: Request, max_bytes: int) -> bytes:
    """The request body, refused with 413 as soon as it passes ``max_bytes`` (a false Content-Length changes nothing)."""
    limit = f"over the {max_bytes >> 20} MiB limit; send a smaller image"
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise InputError(f"the upload is {int(declared):,} bytes, {limit}", 413)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise InputError(f"the upload is {limit}", 413)
        chunks.append(chunk)
    return b"".join(chunks)


async def _form_file(request: Request, body: bytes) -> tuple[bytes, str]:
    """The one file of a multipart form (already read within the size limit), with its file name."""
    sent = False

    async def replay() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.request", "body": b"", "more_body": False}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(request.scope, replay).form(max_files=1, max_fields=10)
    except (HTTPException, AssertionError, ValueError) as exc:
        detail = getattr(exc, "detail", None) or str(exc) or "malformed"
        raise InputError(f"the multipart form cannot be read ({detail}); send one image file (curl -F image=@x.png)") from None
    files = [v for _, v in form.multi_items() if isinstance(v, UploadFile)]
    if len(files) != 1:
        raise InputError("the multipart form holds no image file; send one (curl -F image=@digit.png)", 422)
    upload, name = files[0], (files[0].filename or "the upload")[:200]
    try:
        kind = (upload.content_type or "").split(";")[0].strip().lower()
        if kind and not kind.startswith(IMAGE_TYPES):
            raise InputError(f"{name} is {kind}, not an image; send a PNG, JPEG, GIF, BMP, TIFF or WebP file", 415)
        return await upload.read(), name
    finally:
        await form.close()

"""``bpnn serve``: a local web page to draw a digit and watch a trained image model read it (the ``[serve]`` extra).

Built on Starlette (a small, standard ASGI toolkit: routing, static files and form parsing, no template engine or
ORM to carry) served by uvicorn, the reference ASGI server; the page itself is plain HTML, CSS and JavaScript in
``static/``, shipped with the package, so it works offline. ``reader`` does the work and needs neither.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from pathlib import Path

from ..errors import BpnnValueError

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1", "[::1]")


def _framework() -> tuple[object, object]:
    """uvicorn and the app module, or a one-line error naming the extra that installs them."""
    try:
        import uvicorn

        from . import app
    except ImportError as exc:
        missing = exc.name or "a package"
        raise BpnnValueError(f'bpnn serve needs the [serve] extra ({missing} is missing): pip install "bpnn_xp[serve]"') from None
    return uvicorn, app


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to host:port (port 0: any free one), or a one-line error saying what to change."""
    if not 0 <= port <= 65535:
        raise BpnnValueError(f"--port must be 0..65535, got {port}")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise BpnnValueError(f"--host {host} is not an address of this machine ({exc.strerror}); try 127.0.0.1") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        reason = exc.strerror or exc
        raise BpnnValueError(f"cannot listen on {host}:{port} ({reason}); use another --port (0: any free one)") from None
    sock.listen(128)
    return sock


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this computer only (so the page is private to it)."""
    try:
        return host == "localhost" or ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def run_server(model: str | Path, host: str = "127.0.0.1", port: int = 8000, announce: Callable[[str], None] = print) -> None:
    """Serve the drawing page for the image model at ``model`` until Ctrl-C; ``announce`` gets the page's URL."""
    uvicorn, app = _framework()
    from .reader import DigitReader

    reader = DigitReader.open(model)
    sock = listening_socket(host, port)
    server = uvicorn.Server(uvicorn.Config(app.create_app(reader, allowed_hosts(host)), log_level="warning", access_log=False))  # type: ignore[attr-defined]
    announce(page_url(host, sock.getsockname()[1]))
    server.run(sockets=[sock])


def allowed_hosts(host: str) -> tuple[str, ...] | None:
    """The Host header names a loopback server answers (the address it is bound to among them); None: any."""
    return (*LOOPBACK_NAMES, host, f"[{host.strip('[]')}]" if ":" in host else host) if is_loopback(host) else None


def page_url(host: str, port: int) -> str:
    """The URL to open, and who else can open it when the server is not private to this computer."""
    if host in ("0.0.0.0", "::", ""):
        return f"http://127.0.0.1:{port}/ (and on port {port} of every address of this machine: anyone who reaches it can use it)"
    url = f"http://{f'[{host}]' if ':' in host else host}:{port}/"
    return url if is_loopback(host) else f"{url} (anyone who reaches {host} can use it)"

"""A WSGI application on its own loopback port in this process, for tests (nothing
pytest-specific in here)."""

from __future__ import annotations

import threading
from typing import Any

from werkzeug.serving import make_server


class LoopbackWsgi:
    """Context manager: `with LoopbackWsgi(app) as server:` then `server.url`."""

    def __init__(self, app: Any) -> None:
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def __enter__(self) -> LoopbackWsgi:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

"""The embedded S3's application on a port of its own, to compare the endpoint's port against.

    python -m bench.s3_direct disk|moto PORT ROOT

The same application the endpoint serves S3 with (the disk S3 over ROOT, or moto's S3 app),
behind the same request handler (keep-alive, idle timeout), without the endpoint's routing.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from werkzeug.serving import make_server

from emulator.api.moto_guard import MotoGuard
from emulator.server.handler import request_handler


def application(backend: str, root: Path) -> Any:
    if backend == "disk":
        from emulator.storage.disk_s3.app import DiskS3App

        return MotoGuard(DiskS3App(root))
    from moto.server import create_backend_app

    return MotoGuard(create_backend_app("s3"))


def main(argv: list[str]) -> int:
    backend, port, root = argv[0], int(argv[1]), Path(argv[2])
    server = make_server("127.0.0.1", port, application(backend, root), threaded=True,
                         request_handler=request_handler(60.0))
    print(f"serving {backend} S3 on {server.server_port}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""moto's dispatcher, without its per-request directory listing, and S3 straight to S3's app.

moto's DomainDispatcherApplication picks a backend per request under one global lock, and on the
way lists its own package directory (~200 entries, each stat'ed: `backends.list_of_moto_modules`)
and tries its URL patterns. The backend a host name maps to never changes, so it is looked up
once per host here; and a request `is_s3_request` recognises goes to moto's S3 application
directly, without the lock.
"""

from __future__ import annotations

from typing import Any

from moto.server import DomainDispatcherApplication, create_backend_app

from emulator.storage.backends import is_s3_request

_MAX_HOSTS = 256  # host names come from the request's signature: keep the memo bounded
_S3_CONTROL_PATH = "/v20180820/"


class MotoDispatcher(DomainDispatcherApplication):
    def __init__(self) -> None:
        super().__init__(create_backend_app)
        self._backend_of_host: dict[str | None, Any] = {}
        self._s3: Any = None

    def get_backend_for_host(self, host: str | None) -> Any:
        # Called under self.lock (moto's get_application).
        if host in self._backend_of_host:
            return self._backend_of_host[host]
        backend = super().get_backend_for_host(host)
        if len(self._backend_of_host) < _MAX_HOSTS:
            self._backend_of_host[host] = backend
        return backend

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if is_s3_request(environ) and not environ.get("PATH_INFO", "").startswith(
                _S3_CONTROL_PATH) and "s3-control" not in environ.get("HTTP_HOST", ""):
            return self._s3_app()(environ, start_response)
        return super().__call__(environ, start_response)

    def _s3_app(self) -> Any:
        if self._s3 is None:
            with self.lock:
                self._s3 = self.app_instances.get("s3") or self.create_app("s3")
                self.app_instances["s3"] = self._s3
        return self._s3

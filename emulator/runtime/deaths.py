"""Docker's `die` events for the training containers, as they happen.

Docker answers its wait and SIGKILL calls only once it has cleaned up after a container
(released its network endpoint, unmounted its filesystems): a few hundred milliseconds after
its processes are gone, more under load. Its `die` event comes before that clean-up, with the
exit code, so an attempt's end (its last flush, the proof) and the next attempt's restore need
not wait for it. One events stream serves every container the engine makes, subscribed before
the first one is created; a container whose event was missed (the stream broke) is still told
by the wait call, only later.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any

from emulator.runtime import labels as L

log = logging.getLogger(__name__)
Died = Callable[[int], None]  # told the exit code


class DeathWatch:
    """Tells each watched container's end from Docker's events stream. Thread-safe."""

    def __init__(self, client: Callable[[], Any]) -> None:
        self._client = client  # the engine's docker.DockerClient, made on first use
        self._lock = threading.Lock()
        self._watched: dict[str, Died] = {}
        self._listening = False
        self._stream: Any = None
        self._closed = False

    def watch(self, container_id: str, died: Died) -> None:
        """Call `died(exit code)` (once, from the stream's thread) when Docker reports the end
        of `container_id`, which has not started yet: Docker listens for it once this returns
        (unless the stream cannot be opened: then only the wait call tells)."""
        self._listen()
        with self._lock:
            self._watched[container_id] = died

    def forget(self, container_id: str) -> None:
        with self._lock:
            self._watched.pop(container_id, None)

    @property
    def listening(self) -> bool:
        return self._listening

    def close(self) -> None:
        """Stop listening (the endpoint's end); later containers are told by the wait call."""
        with self._lock:
            self._closed, stream = True, self._stream
        if stream is not None:
            stream.close()

    def _listen(self) -> None:
        with self._lock:
            if self._listening or self._closed:
                return
            try:  # returns once the daemon has subscribed us: no later event is missed
                stream = self._client().events(decode=True, filters={
                    "type": "container", "event": "die", "label": f"{L.MANAGED}=true"})
            except Exception as err:  # the wait calls still tell, after Docker's clean-up
                log.warning("no Docker events stream (%s): containers' ends are known later",
                            err)
                return
            self._listening, self._stream = True, stream
        threading.Thread(target=self._follow, args=(stream,), name="docker-deaths",
                         daemon=True).start()

    def _follow(self, stream: Any) -> None:
        try:
            for event in stream:
                actor = event.get("Actor") or {}
                code = (actor.get("Attributes") or {}).get("exitCode")
                with self._lock:
                    died = self._watched.pop(str(actor.get("ID") or event.get("id")), None)
                if died is not None and code is not None:
                    died(int(code))
        except Exception as err:  # the daemon went away, say: the next creation re-subscribes
            if not self._closed:
                log.warning("Docker events stream ended: %s", err)
        finally:
            with self._lock:
                self._listening, self._stream = False, None
            with contextlib.suppress(Exception):
                stream.close()

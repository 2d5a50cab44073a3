"""An attempt's containers, created while its checkpoints are restored and started only after.

Creating a container is a Docker round trip that costs a few hundred milliseconds under load;
made during the restore (and the channels' download), the next attempt's container only has
to be started once they are complete, so it never sees a partial restore. A container made
and never started (a stop during the restore, a failed restore, another host that could not be
made) is removed here; one left behind by a crash carries the job's labels, so the endpoint's
next start removes it.
"""

from __future__ import annotations

import logging
import threading

from emulator.runtime.protocol import Container, Engine
from emulator.runtime.translate import ContainerSpec

log = logging.getLogger(__name__)


class ContainerLaunch:
    """Creates one attempt's containers in a thread of its own, host after host."""

    def __init__(self, engine: Engine, specs: list[ContainerSpec], name: str) -> None:
        self._engine = engine
        self._specs = specs
        self._made: dict[str, Container] = {}
        self._error: BaseException | None = None
        self._lock = threading.Lock()
        self._abandoned = False  # discard() came first: make no more
        self._taken = False
        self._thread = threading.Thread(target=self._create, name=name, daemon=True)

    def begin(self) -> ContainerLaunch:
        self._thread.start()
        return self

    def _create(self) -> None:
        for spec in self._specs:
            with self._lock:
                if self._abandoned:
                    return
            try:
                handle = self._engine.create(spec)
            except BaseException as err:  # raised in the job's thread, by containers()
                self._error = err
                return
            with self._lock:
                self._made[spec.host] = handle

    def containers(self) -> dict[str, Container]:
        """Every host's container, made and not started (the attempt owns them from now on).
        Raises what stopped the creation (ContainerStartError: the image's fault), after
        removing those already made."""
        self._thread.join()
        if self._error is not None:
            self.discard()
            raise self._error
        self._taken = True
        return dict(self._made)

    def discard(self) -> None:
        """Remove what was made (waiting for a creation under way), unless the attempt took
        the containers; idempotent."""
        with self._lock:
            self._abandoned = True
        self._thread.join()
        if self._taken:
            return
        with self._lock:
            made, self._made = list(self._made.values()), {}
        for handle in made:
            try:
                handle.remove()
            except Exception:  # labelled: the job's end or the endpoint's clean-up retries
                log.exception("container %s not removed", handle.name)

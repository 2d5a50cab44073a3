"""An attempt's containers, created while its checkpoints are restored and started only after.

Creating a container is a Docker round trip that costs a few hundred milliseconds under load;
made during the restore (and the channels' download), the next attempt's container only has
to be started once they are complete, so it never sees a partial restore. A container made
and never started (a stop during the restore, a failed restore, another host that could not be
made) is removed here; one left behind by a crash carries the job's labels, so the endpoint's
next start removes it. A multi-instance attempt's hosts are made, and started, at once.
"""

from __future__ import annotations

import logging
import threading

from emulator.runtime.protocol import Container, Engine
from emulator.runtime.translate import ContainerSpec

log = logging.getLogger(__name__)


class ContainerLaunch:
    """Creates one attempt's containers, each host's in a thread of its own."""

    def __init__(self, engine: Engine, specs: list[ContainerSpec], name: str) -> None:
        self._engine = engine
        self._made: dict[str, Container] = {}
        self._error: BaseException | None = None
        self._lock = threading.Lock()
        self._abandoned = False  # discard() came first: make no more
        self._taken = False
        self._threads = [threading.Thread(target=self._create, args=(spec,),
                                          name=f"{name}-{spec.host}", daemon=True)
                         for spec in specs]

    def begin(self) -> ContainerLaunch:
        for thread in self._threads:
            thread.start()
        return self

    def _join(self) -> None:
        for thread in self._threads:
            thread.join()

    def _create(self, spec: ContainerSpec) -> None:
        with self._lock:
            if self._abandoned or self._error is not None:
                return
        try:
            handle = self._engine.create(spec)
        except BaseException as err:  # raised in the job's thread, by containers()
            with self._lock:
                self._error = self._error or err
            return
        with self._lock:
            self._made[spec.host] = handle

    def containers(self) -> dict[str, Container]:
        """Every host's container, made and not started (the attempt owns them from now on).
        Raises what stopped the creation (ContainerStartError: the image's fault), after
        removing those already made."""
        self._join()
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
        self._join()
        if self._taken:
            return
        with self._lock:
            made, self._made = list(self._made.values()), {}
        for handle in made:
            try:
                handle.remove()
            except Exception:  # labelled: the job's end or the endpoint's clean-up retries
                log.exception("container %s not removed", handle.name)


def start_all(containers: list[Container]) -> None:
    """Start every host's container at once (a Docker start is 0.3-1 s under load, so hosts
    one after another would come up seconds apart); raise the first failure once all have
    answered (those that started are the attempt's to end)."""
    if len(containers) == 1:
        containers[0].start()
        return
    errors: list[BaseException] = []

    def start(container: Container) -> None:
        try:
            container.start()
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=start, args=(c,), name=f"start-{c.name}", daemon=True)
               for c in containers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]

"""A container's end is known from Docker's die event, not only once Docker's wait and SIGKILL
calls answer (after its clean-up): ContainerHandle and DeathWatch against scripted stand-ins
for the Docker SDK's container and events stream (the real stream: tests/integration/
test_container_deaths.py)."""

from __future__ import annotations

import queue
import signal
import threading
import time
from typing import Any

from emulator.runtime.deaths import DeathWatch
from emulator.runtime.engine import ContainerHandle


class Stream:
    """What `DockerClient.events(decode=True)` returns: events until closed."""

    def __init__(self) -> None:
        self.events: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.closed = False

    def __iter__(self) -> Any:
        while (event := self.events.get()) is not None:
            yield event

    def die(self, container_id: str, code: int) -> None:
        self.events.put({"id": container_id, "Action": "die", "Actor": {
            "ID": container_id, "Attributes": {"exitCode": str(code)}}})

    def close(self) -> None:
        self.closed = True
        self.events.put(None)


class Client:
    def __init__(self, broken: bool = False) -> None:
        self.streams: list[Stream] = []
        self.filters: list[dict[str, Any]] = []
        self.broken = broken

    def events(self, *, decode: bool, filters: dict[str, Any]) -> Stream:
        if self.broken:
            raise ConnectionError("no daemon")
        self.filters.append(filters)
        self.streams.append(Stream())
        return self.streams[-1]


class Container:
    """A container whose wait and kill calls answer only once `cleaned` is set."""

    def __init__(self, ident: str) -> None:
        self.id = ident
        self.name = f"c-{ident}"
        self.cleaned = threading.Event()
        self.killed: list[int] = []
        self.status = "running"

    def wait(self, timeout: float | None = None) -> dict[str, int]:
        self.cleaned.wait()
        return {"StatusCode": 137}

    def kill(self, signal: int) -> None:
        self.killed.append(signal)
        self.cleaned.wait()

    def reload(self) -> None:
        pass

    def remove(self, force: bool) -> None:
        self.cleaned.set()


def test_the_die_event_tells_the_exit_code_before_docker_cleaned_up() -> None:
    client = Client()
    watch = DeathWatch(lambda: client)
    container = Container("abc")
    handle = ContainerHandle(container, watch)  # type: ignore[arg-type]
    (stream,) = client.streams  # subscribed as the container was made, before its start
    assert client.filters == [{"type": "container", "event": "die",
                               "label": "smemu.managed=true"}]
    try:
        sender = threading.Thread(target=handle.send_signal, args=(signal.SIGKILL,))
        sender.start()
        sender.join(10)
        assert not sender.is_alive()  # sent, although Docker's answer waits for its clean-up
        assert handle.wait(timeout=0.05) is None  # still running: no event yet
        stream.die("other", 1)  # another container's end
        assert handle.wait(timeout=0.05) is None
        stream.die("abc", 137)
        assert handle.wait(timeout=10) == 137
        assert not container.cleaned.is_set() and container.killed == [signal.SIGKILL]
    finally:
        container.cleaned.set()


def test_without_an_events_stream_the_wait_call_tells() -> None:
    watch = DeathWatch(lambda: Client(broken=True))
    container = Container("abc")
    handle = ContainerHandle(container, watch)  # type: ignore[arg-type]
    assert not watch.listening
    assert handle.wait(timeout=0.05) is None
    container.cleaned.set()
    assert handle.wait(timeout=10) == 137


def test_a_broken_stream_is_subscribed_again_by_the_next_container() -> None:
    client = Client()
    watch = DeathWatch(lambda: client)
    ContainerHandle(Container("one"), watch)  # type: ignore[arg-type]
    ContainerHandle(Container("two"), watch)  # type: ignore[arg-type]
    (first,) = client.streams  # one stream for every container
    first.close()  # the daemon went away
    deadline = time.monotonic() + 10
    while watch.listening and time.monotonic() < deadline:
        time.sleep(0.01)
    later = Container("three")
    handle = ContainerHandle(later, watch)  # type: ignore[arg-type]
    assert len(client.streams) == 2
    client.streams[1].die("three", 3)
    assert handle.wait(timeout=10) == 3
    later.cleaned.set()


def test_closed_it_lets_go_of_the_stream_and_subscribes_no_more() -> None:
    client = Client()
    watch = DeathWatch(lambda: client)
    ContainerHandle(Container("one"), watch)  # type: ignore[arg-type]
    watch.close()
    assert client.streams[0].closed
    later = Container("two")
    handle = ContainerHandle(later, watch)  # type: ignore[arg-type]
    assert len(client.streams) == 1  # the wait call tells from now on
    later.cleaned.set()
    assert handle.wait(timeout=10) == 137

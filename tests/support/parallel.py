"""How `make test` spreads the suite over pytest-xdist workers (`-n N --dist loadgroup`).

A work unit is a whole test file, as with `--dist loadfile`: its module fixtures (images,
endpoints) start once and its tests run in their order (the README walk depends on it). The
files of one group in SERIAL_GROUPS form one unit instead: they run one after another on one
worker, never beside each other. Units start in collection order (e2e and integration first:
they are the long ones, so the quick unit files fill the workers' ends).

Groups are listed here, not marked with `pytest.mark.xdist_group`: xdist (3.8) tells the
controller a test's group through a suffix of its node id, which pytest 9.2 no longer lets a
plugin change, so such a mark would be silently ignored.
"""

from __future__ import annotations

from typing import Any

import pytest

# group -> the files that must never run beside each other (paths from the project's root).
SERIAL_GROUPS: dict[str, tuple[str, ...]] = {
    # `smemu cleanup` removes whatever any dead endpoint left, and these endpoints are killed
    # on purpose: their containers would be removed before the restarted endpoint recovers them.
    "docker-orphans": ("tests/integration/test_cleanup_orphans.py",
                       "tests/e2e/test_crash_recovery.py"),
}
_GROUP_OF = {path: group for group, paths in SERIAL_GROUPS.items() for path in paths}


def unit_of(nodeid: str) -> str:
    """The work unit of a test: its file's group, an xdist_group suffix ("@name", if xdist
    ever sends one again), else its file."""
    if nodeid.rfind("@") > nodeid.rfind("]"):  # an "@" in a parameter id is no group
        return nodeid.rsplit("@", 1)[-1]
    path = nodeid.split("::", 1)[0]
    return _GROUP_OF.get(path, path)


class ParallelPlugin:
    """Registered by tests/conftest.py when pytest-xdist is installed."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        if config.getoption("dist") != "loadgroup":
            return None  # another --dist: xdist's own scheduler
        from xdist.scheduler import LoadGroupScheduling

        class FileOrGroupScheduling(LoadGroupScheduling):
            def _split_scope(self, nodeid: str) -> str:
                return unit_of(nodeid)

        # Units in collection order, not sorted by their number of tests.
        config.option.loadscopereorder = False
        return FileOrGroupScheduling(config, log)

"""How `make test` spreads the suite over pytest-xdist workers (`-n N --dist loadgroup`).

A work unit is a whole test file, as with `--dist loadfile`: its module fixtures (images,
endpoints) start once and its tests run in their order (the README walk depends on it). Tests
marked `@pytest.mark.xdist_group("name")` form one unit across files instead: they run one
after another on one worker, never beside each other (e.g. a test that runs `smemu cleanup`,
which removes every dead endpoint's containers, and a test whose endpoint is killed on
purpose). Units start in collection order (e2e and integration first: they are the long ones,
so the quick unit files fill the workers' ends).
"""

from __future__ import annotations

from typing import Any

import pytest

# `smemu cleanup` removes what any dead endpoint left; the endpoints killed on purpose leave
# such things for a moment. Tests of either kind share this group.
ORPHANS_GROUP = "docker-orphans"


def unit_of(nodeid: str) -> str:
    """The work unit of a test: its xdist_group (xdist suffixes the node id with "@group"
    under loadgroup), else its file."""
    if nodeid.rfind("@") > nodeid.rfind("]"):  # an "@" in a parameter id is no group
        return nodeid.rsplit("@", 1)[-1]
    return nodeid.split("::", 1)[0]


class ParallelPlugin:
    """Registered by tests/conftest.py when pytest-xdist is installed (the test modules do
    not import xdist: ORPHANS_GROUP is all they need)."""

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

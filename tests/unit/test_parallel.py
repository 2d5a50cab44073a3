"""The suite's xdist scheduling (tests/support/parallel.py): a file is a unit, a serial group's
files share one worker, and the groups name files that exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support import parallel
from tests.support.parallel import SERIAL_GROUPS, unit_of

ROOT = Path(__file__).resolve().parents[2]


def test_a_file_is_a_unit_and_a_grouped_file_is_its_group() -> None:
    assert unit_of("tests/unit/test_x.py::test_a[p@q]") == "tests/unit/test_x.py"
    assert unit_of("tests/unit/test_x.py::TestA::test_b") == "tests/unit/test_x.py"
    assert unit_of("tests/unit/test_x.py::test_a@mine") == "mine"
    assert unit_of("tests/e2e/test_crash_recovery.py::test_a[external-s3]") == "docker-orphans"


def test_every_grouped_file_exists() -> None:
    files = [path for paths in SERIAL_GROUPS.values() for path in paths]
    assert [path for path in files if not (ROOT / path).is_file()] == []
    assert len(files) == len(set(files)), "a file in two groups"


def test_a_groups_files_run_on_one_worker_beside_the_others(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "_GROUP_OF", {"test_a.py": "g", "test_b.py": "g"})
    pytester.makeconftest("""
        from tests.support.parallel import ParallelPlugin

        def pytest_configure(config):
            config.pluginmanager.register(ParallelPlugin(), "smemu-parallel")
    """)
    for name in ("a", "b", "c"):
        pytester.makepyfile(**{f"test_{name}": f"def test_{name}():\n    pass\n"})
    result = pytester.runpytest("-n", "2", "--dist", "loadgroup", "-v", "-p", "no:smemu",
                                "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)
    worker = {m.group(2): m.group(1) for m in re.finditer(
        r"\[(gw\d)\] .*PASSED test_(\w)\.py", result.stdout.str())}
    assert worker["a"] == worker["b"] != worker["c"], result.stdout.str()

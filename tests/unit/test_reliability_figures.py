"""The README's Reliability table is FIGURES rendered, every figure has a test file that measures
it, and `measured()` holds a tally to its figure (tests/support/figures.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.support import figures

README = (figures.ROOT / "README.md").read_text()


def test_the_readme_table_is_the_figures_rendered() -> None:
    assert figures.readme_table(README) == figures.render(), \
        "README's Reliability table differs from FIGURES: paste `python -m tests.support.figures`"


@pytest.mark.parametrize("figure", figures.FIGURES, ids=lambda f: f.key)
def test_every_figure_is_measured_by_its_test_file(figure: figures.Figure) -> None:
    source = (figures.ROOT / figure.source).read_text()
    assert f'figures.Tally("{figure.key}")' in source, figure.source
    assert re.search(rf"def {figures.FINAL_TEST}\(request: pytest.FixtureRequest\)", source)
    assert "TALLY.check(request)" in source
    # Every number the table states is a count the test holds to it.
    stated = set(re.findall(r"\{(\w+)\}", figure.claim + figure.proof))
    known = {*figure.counts, *figure.minimums}
    assert stated <= known, (figure.key, stated - known)


def test_a_tally_is_recorded_and_held_to_its_figure(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(figures, "FIGURES_DIR", tmp_path)
    figure = figures.BY_KEY["fuzz-http"]
    figures.measured("fuzz-http", **figure.counts, extra=5)
    record = json.loads((tmp_path / "fuzz-http.json").read_text())
    assert record["measured"] == {**figure.counts, "extra": 5} and record["held_to_readme"]
    wrong = {**figure.counts, "server_errors": 1}
    with pytest.raises(AssertionError, match="the README's fuzz-http figure says"):
        figures.measured("fuzz-http", **wrong)
    assert json.loads((tmp_path / "fuzz-http.json").read_text())["measured"] == wrong
    # A minimum: reached is enough, short of it fails.
    monkeypatch.setitem(figures.BY_KEY, "timed", figures.Figure(
        "timed", "w", "at least {retries}", {"jobs": 2}, "x", "p", minimums={"retries": 3}))
    figures.measured("timed", jobs=2, retries=9)
    with pytest.raises(AssertionError, match="says at least"):
        figures.measured("timed", jobs=2, retries=2)
    # A changed budget: recorded, not held.
    monkeypatch.setenv("FUZZ_EXAMPLES", "7")
    figures.measured("fuzz-http", requests=8)
    assert not json.loads((tmp_path / "fuzz-http.json").read_text())["held_to_readme"]


def test_a_partial_tally_is_recorded_and_not_checked(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    monkeypatch.setattr(figures, "FIGURES_DIR", tmp_path)
    tally = figures.Tally("fuzz-http")
    tally.add(requests=3)  # far from the figure: a test of the file failed before the check
    request = SimpleNamespace(config=SimpleNamespace(option=SimpleNamespace(
        keyword="", lf=False, dist="loadgroup")), session=SimpleNamespace(testsfailed=1))
    with pytest.raises(pytest.skip.Exception, match="1 test"):
        tally.check(request)  # type: ignore[arg-type]
    record = json.loads((tmp_path / "fuzz-http.json").read_text())
    assert record["measured"]["requests"] == 3 and not record["held_to_readme"]
    request.session.testsfailed = 0
    with pytest.raises(AssertionError, match="the README's fuzz-http figure says"):
        tally.check(request)  # type: ignore[arg-type]

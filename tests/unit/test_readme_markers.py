"""The README test's own logic: markers, blocks, and what 'the same shape of output' means."""

from __future__ import annotations

import pytest

from tests.support.readme import MarkerError, blocks, first_mismatch

DOC = """\
# Title

<!-- test: run; expect=Completed; expect=Attempts: 3 -->
```bash
smemu run --interrupt after=5s
```

<!-- test: output -->

```
Job smemu-toy-trainer-2026: Completed
```

```bash
smemu up [--port N]
```

<!-- test: file=job.json -->
Some words in between.
```json
{}
```

<!-- test: skip=a syntax summary; not run -->
```python
print("x")
```
"""


def test_blocks_carry_the_marker_right_above_them() -> None:
    found = blocks(DOC)
    assert [(b.line, b.lang, b.mode) for b in found] == [
        (4, "bash", "run"), (10, "", "output"), (14, "bash", None), (20, "json", None),
        (25, "python", "skip")]
    run = found[0]
    assert run.text == "smemu run --interrupt after=5s\n"
    assert run.expect == ("Completed", "Attempts: 3") and run.exit_code == 0
    assert found[4].value == "a syntax summary; not run"


@pytest.mark.parametrize("marker", ["<!-- test: runn -->", "<!-- test: run; expet=x -->"])
def test_a_misspelt_marker_is_an_error_not_a_silently_skipped_block(marker: str) -> None:
    with pytest.raises(MarkerError, match=r"README\.md:1: "):
        blocks(f"{marker}\n```bash\ntrue\n```\n")


SAMPLE = """\
Job smemu-toy-trainer-2026-11-27-04-08-52-123: Completed (Completed)
  Attempts: 3, interruptions: 2
  attempt  outcome      train s  lost s  interruption
        1  interrupted      4.3     0.6  after=5s
  timeline:
    +    0.0s  attempt 1: starting
    ...
    +   18.1s  attempt 3: ended completed (resumed)
"""

OUTPUT = """\
training complete: step 60 value=1
Job smemu-toy-trainer-2026-12-01-09-31-43-906: Completed (Completed)
  Attempts: 13, interruptions: 2
  attempt  outcome          train s  lost s  interruption
        1  interrupted         15.25   0.7  after=5s
  timeline:
    +    0.0s  attempt 1: starting
    +    0.7s  attempt 1: training
    +    2.1s  attempt 1: uploaded checkpoint.json (25 B)
    +  118.1s  attempt 3: ended completed (resumed)
"""


def test_numbers_and_spacing_may_differ_and_dots_skip_lines() -> None:
    assert first_mismatch(SAMPLE, OUTPUT) is None


@pytest.mark.parametrize(("old", "new"), [
    ("after=5s", "after=4s"),  # what the command asked for is not a free number
    ("lost s", "lost"),  # a column
    ("smemu-toy-trainer", "smemu-demo"),  # the default job name
    ("(resumed)", "(restarted)"),
])
def test_a_changed_word_is_a_mismatch_naming_the_line(old: str, new: str) -> None:
    changed = SAMPLE.replace(old, new, 1)
    mismatch = first_mismatch(changed, OUTPUT)
    assert mismatch is not None and new in mismatch


def test_a_sample_line_the_output_lacks_is_a_mismatch() -> None:
    sample = SAMPLE.replace("  timeline:", "  Model: s3://b/model.tar.gz\n  timeline:")
    assert first_mismatch(sample, OUTPUT) == "  Model: s3://b/model.tar.gz"

"""The README's fenced blocks and their test markers (pure: parsing and output shapes).

A marker is an HTML comment on the line before a fenced block (blank lines between are allowed);
GitHub does not render it. Its modes:

    <!-- test: run -->                   run the block (bash or python) in the walk's directory
    <!-- test: run; expect=TEXT -->      ... and its output (stdout and stderr) contains TEXT
    <!-- test: run; exit=1 -->           ... and it exits 1 instead of 0
    <!-- test: file=job.json -->         write the block to job.json, for the blocks after it
    <!-- test: output -->                the block is what the run block before it prints on
                                         stdout (a number may differ, `...` stands for any lines)
    <!-- test: skip=REASON -->           not run; REASON says why (a syntax summary, ...)

Every bash, sh and python block needs a marker, so that a new command is tested or said not to
be. Options repeat (`expect=A; expect=B`); `;` separates them, so TEXT cannot hold one (a skip
REASON can: it is the rest of the marker).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

MODES = ("run", "file", "output", "skip")
CODE_LANGUAGES = ("bash", "sh", "shell", "python")
_MARKER = re.compile(r"^\s*<!--\s*test:\s*(?P<body>.*?)\s*-->\s*$")
_FENCE = re.compile(r"^(?P<fence>```+)\s*(?P<lang>[\w+-]*)\s*$")
# A number in a sample output may differ from run to run, unless it follows '=' (after=5s,
# total_steps=60 are what the command asked for) or sits inside a word (m5, sha256, algo-1's 1
# is after '-', so it may differ: it is a count like any other).
_NUMBER = re.compile(r"(?<![\w=.])\d+(?:\.\d+)?")
_ANY_LINES = "..."


class MarkerError(ValueError):
    """A marker this module does not understand."""


@dataclass(frozen=True)
class Block:
    line: int  # of the opening fence, 1-based
    lang: str
    text: str
    mode: str | None = None  # None: no marker
    value: str = ""  # file=NAME's NAME, skip=REASON's REASON
    expect: tuple[str, ...] = ()
    exit_code: int = 0
    options: dict[str, list[str]] = field(default_factory=dict, compare=False)

    @property
    def label(self) -> str:
        return f"README.md:{self.line} ({self.mode or 'unmarked'} {self.lang or 'text'})"


def parse_marker(body: str) -> dict[str, list[str]]:
    """'run; expect=A; expect=B' -> {'run': [''], 'expect': ['A', 'B']}; the mode comes first."""
    if body.startswith("skip="):  # the reason is free text, `;` included
        return {"skip": [body[len("skip="):].strip()]}
    options: dict[str, list[str]] = {}
    for item in (part.strip() for part in body.split(";")):
        if item:
            key, _, value = item.partition("=")
            options.setdefault(key.strip(), []).append(value.strip())
    mode = next(iter(options), None)
    if mode not in MODES:
        raise MarkerError(f"a test marker starts with one of {', '.join(MODES)}: {body!r}")
    unknown = set(options) - {mode, "expect", "exit"}
    if unknown:
        raise MarkerError(f"unknown marker option(s) {sorted(unknown)} in {body!r}")
    return options


def blocks(markdown: str) -> list[Block]:
    """Every fenced block, in order, with the marker just above it (if any)."""
    lines = markdown.splitlines()
    out: list[Block] = []
    pending: tuple[int, str] | None = None  # (line, body) of the last marker seen
    index = 0
    while index < len(lines):
        line = lines[index]
        marker, fence = _MARKER.match(line), _FENCE.match(line)
        if marker:
            pending = (index + 1, marker.group("body"))
        elif fence:
            close = next((j for j in range(index + 1, len(lines))
                          if lines[j].strip() == fence.group("fence")), None)
            if close is None:
                raise MarkerError(f"README.md:{index + 1}: the fenced block is never closed")
            text = "\n".join(lines[index + 1:close]) + "\n"
            out.append(_block(index + 1, fence.group("lang"), text, pending))
            pending, index = None, close
        elif line.strip():
            pending = None  # a marker belongs to the block right below it
        index += 1
    return out


def _block(line: int, lang: str, text: str, marker: tuple[int, str] | None) -> Block:
    if marker is None:
        return Block(line, lang, text)
    try:
        options = parse_marker(marker[1])
    except MarkerError as err:
        raise MarkerError(f"README.md:{marker[0]}: {err}") from None
    mode = next(iter(options))
    exits = options.get("exit", ["0"])
    return Block(line, lang, text, mode=mode, value=options[mode][0],
                 expect=tuple(options.get("expect", ())), exit_code=int(exits[-1]),
                 options=options)


def output_pattern(sample: str) -> re.Pattern[str]:
    """A regex that a real output matches when it has the sample's shape: the same lines in the
    same order (a contiguous run of the output), numbers free, spacing free, `...` any lines."""
    parts = []
    for line in sample.strip("\n").splitlines():
        if line.strip() == _ANY_LINES:
            parts.append(r"(?:[^\n]*\n)*?")
            continue
        body, last = [], 0
        for number in _NUMBER.finditer(line.strip()):
            body.append(_literal(line.strip()[last:number.start()]))
            body.append(r"\d+(?:\.\d+)?")
            last = number.end()
        body.append(_literal(line.strip()[last:]))
        parts.append(r"[ \t]*" + "".join(body) + r"[ \t]*\n")
    return re.compile("^" + "".join(parts), re.MULTILINE)


def _literal(text: str) -> str:
    return r"[ \t]+".join(re.escape(word) for word in re.split(r"[ \t]+", text))


def first_mismatch(sample: str, output: str) -> str | None:
    """None when the output has the sample's shape, else the first sample line it lacks."""
    text = output if output.endswith("\n") else output + "\n"
    if output_pattern(sample).search(text):
        return None
    lines = sample.strip("\n").splitlines()
    for count in range(1, len(lines) + 1):
        if not output_pattern("\n".join(lines[:count])).search(text):
            return lines[count - 1]
    return lines[-1] if lines else ""


def read_readme(root: Path) -> str:
    return (root / "README.md").read_text()

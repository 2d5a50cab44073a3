"""Walk the README top to bottom as a new user would: every marked block is run, in order.

The markers are described in tests/support/readme.py. The walk shares one directory and one
endpoint (the session's, real Docker) between the blocks, as a user's shell would:

* `127.0.0.1:4590`, the default endpoint, is the session endpoint (every `4590` is rewritten to
  its port, and `SMEMU_ENDPOINT_URL` points at it); `4591`, the README's second endpoint, is a
  free port of its own. So the walk never touches a user's endpoint.
* No AWS credentials or region come from the environment or ~/.aws: a block must say them, as
  a user without an AWS account has none.
* `smemu`, `aws` and `python` are on PATH, as after the Quick start's
  `source .venv/bin/activate`; `make setup` has run already (`make test` runs it first).
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.endpoint import EndpointProcess, free_port
from tests.support.readme import CODE_LANGUAGES, Block, blocks, first_mismatch, read_readme

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]
BLOCKS = blocks(read_readme(ROOT))
BLOCK_TIMEOUT_S = 400
DEFAULT_PORT, SECOND_PORT = "4590", "4591"

STUB_MAKE = """#!/bin/sh
# The suite runs after `make setup` (make test does it first); any other target is not for here.
[ "$*" = setup ] && exit 0
echo "make $*: not run by the README walk" >&2
exit 1
"""


@dataclass
class Walk:
    """The shell a user walks the README in: a directory, an environment, the last output."""

    directory: Path
    env: dict[str, str]
    ports: dict[str, str]
    last_stdout: str | None = None
    written: list[str] = field(default_factory=list)

    def localize(self, text: str) -> str:
        for readme_port, port in self.ports.items():
            text = re.sub(rf"\b{readme_port}\b", port, text)
        return text

    def run(self, block: Block) -> None:
        code = self.localize(block.text)
        if block.lang == "python":
            command = [sys.executable, "-c", code]
        else:
            command = ["bash", "-e", "-o", "pipefail", "-c", code]
        result = subprocess.run(command, cwd=self.directory, env=self.env, text=True,
                                capture_output=True, timeout=BLOCK_TIMEOUT_S)
        self.last_stdout = result.stdout
        shown = f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
        if result.returncode != block.exit_code:
            pytest.fail(f"{block.label} exited {result.returncode}, not {block.exit_code}:\n"
                        f"{shown}", pytrace=False)
        for text in block.expect:
            if self.localize(text) not in result.stdout + result.stderr:
                pytest.fail(f"{block.label} did not print {text!r}:\n{shown}", pytrace=False)

    def check_output(self, block: Block) -> None:
        assert self.last_stdout is not None, f"{block.label}: no block ran before this sample"
        mismatch = first_mismatch(self.localize(block.text), self.last_stdout)
        if mismatch is not None:
            pytest.fail(f"{block.label}: the real output has no line like\n  {mismatch!r}\n"
                        f"(numbers may differ; `...` skips lines). It printed:\n"
                        f"{self.last_stdout}", pytrace=False)

    def write(self, block: Block) -> None:
        path = self.directory / block.value
        path.parent.mkdir(parents=True, exist_ok=True)  # file=my-trainer/Dockerfile
        path.write_text(self.localize(block.text))
        self.written.append(block.value)


def _user_environment(home: Path, bin_dir: Path, endpoint: EndpointProcess) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("AWS_", "SMEMU_"))}
    return {**env, "HOME": str(home), "PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
            "AWS_CONFIG_FILE": str(home / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-aws-credentials"),
            "SMEMU_ENDPOINT_URL": endpoint.url, "SMEMU_STATE_DIR": str(home / "smemu-state"),
            "PYTHONPATH": os.environ.get("PYTHONPATH", str(ROOT))}


def _install_tools(bin_dir: Path) -> None:
    """.venv/bin of the walk's directory: smemu, aws and python of this interpreter."""
    bin_dir.mkdir(parents=True)
    tools = {"smemu": f'#!/bin/sh\nexec "{sys.executable}" -m emulator "$@"\n',
             "aws": f'#!/bin/sh\nexec "{sys.executable}" -m awscli "$@"\n',
             "python": f'#!/bin/sh\nexec "{sys.executable}" "$@"\n',
             "make": STUB_MAKE,
             "activate": f'export PATH="{bin_dir}:$PATH"\n'}
    for name, text in tools.items():
        path = bin_dir / name
        path.write_text(text)
        path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.fixture(scope="module")
def walk(endpoint: EndpointProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Walk]:
    directory = tmp_path_factory.mktemp("readme-walk")
    home = directory / "home"
    home.mkdir()
    bin_dir = directory / ".venv" / "bin"
    _install_tools(bin_dir)
    env = _user_environment(home, bin_dir, endpoint)
    walk = Walk(directory, env, {DEFAULT_PORT: endpoint.url.rsplit(":", 1)[1],
                                 SECOND_PORT: str(free_port())})
    yield walk
    # Whatever the README started in the background (`smemu up --port 4591`) stops here.
    subprocess.run([sys.executable, "-m", "emulator", "down"], env=env, capture_output=True,
                   timeout=120, check=False)


def test_every_command_block_is_marked() -> None:
    """A new bash or python block is tested, or says why not (`<!-- test: skip=... -->`)."""
    unmarked = [b.label for b in BLOCKS if b.mode is None and b.lang in CODE_LANGUAGES]
    assert not unmarked, ("README blocks without a test marker (see tests/support/readme.py): "
                          + ", ".join(unmarked))
    assert [b for b in BLOCKS if b.mode == "run"], "no README block is run at all"


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.mode in ("run", "file", "output")],
                         ids=lambda b: f"line{b.line}-{b.mode}")
def test_readme_block(block: Block, walk: Walk) -> None:
    if block.mode == "file":
        walk.write(block)
    elif block.mode == "output":
        walk.check_output(block)
    else:
        walk.run(block)

"""`smemu doctor`'s checks, each on its own: what it says is wrong, how to fix it, and that the
image context hash is the one images/build.sh labels images with (the real script's function,
run by bash)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

from emulator.runtime.health import EngineFacts, ImageFacts
from emulator.server import doctor
from emulator.server.doctor import FAIL, OK, SKIP

ROOT = Path(__file__).resolve().parents[2]


def bash_context_sha(directory: Path) -> str:
    script = (ROOT / "images" / "build.sh").read_text()
    function = re.search(r"^context_sha\(\) \{.*?^\}", script, re.S | re.M)
    assert function, "images/build.sh has no context_sha function"
    done = subprocess.run(["bash", "-c", f'{function.group(0)}\ncontext_sha "$1"', "_",
                           str(directory)], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_the_context_hash_is_the_one_build_sh_labels_images_with(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.py").write_text("print('b')\n")
    (tmp_path / "a.py").write_bytes(b"\x00binary\xff")
    (tmp_path / "wheels").mkdir()
    (tmp_path / "wheels" / "x.whl").write_text("not part of the context")
    first = doctor.context_sha(tmp_path)
    assert first == bash_context_sha(tmp_path)
    (tmp_path / "wheels" / "y.whl").write_text("still not")
    assert doctor.context_sha(tmp_path) == first
    (tmp_path / "sub" / "b.py").write_text("print('changed')\n")
    assert doctor.context_sha(tmp_path) != first
    assert doctor.context_sha(tmp_path) == bash_context_sha(tmp_path)
    assert doctor.context_sha(ROOT / "images" / "toy-trainer") == \
        bash_context_sha(ROOT / "images" / "toy-trainer")


def test_docker_down_says_how_to_start_it() -> None:
    finding = doctor.check_docker(EngineFacts(False, error="Connection refused"))
    assert finding.status == FAIL
    assert "Connection refused" in finding.message and "dockerd" in finding.message
    up = doctor.check_docker(EngineFacts(True, version="24.0", api_version="1.43",
                                         storage_driver="overlay2", host="unix:///x"))
    assert up.status == OK and "overlay2" in up.message and "24.0" in up.message
    assert doctor.check_images(None, None).status == SKIP


def images_dir(tmp_path: Path) -> Path:
    for name in ("base", "toy-trainer"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "Dockerfile").write_text(f"# {name}\n")
    return tmp_path


def test_images_missing_stale_or_current(tmp_path: Path) -> None:
    directory = images_dir(tmp_path)
    current = doctor.context_sha(directory / "toy-trainer")
    held: dict[str, ImageFacts] = {}

    def facts(client: Any, tag: str) -> ImageFacts:
        return held.get(tag, ImageFacts(tag, False))

    held["smemu-base:latest"] = ImageFacts("smemu-base:latest", True)
    missing = doctor.check_images(object(), directory, facts)
    assert missing.status == FAIL and "smemu-toy-trainer:latest" in missing.message
    assert "make images" in missing.message
    held["smemu-toy-trainer:latest"] = ImageFacts("smemu-toy-trainer:latest", True,
                                                  context="0" * 64)
    stale = doctor.check_images(object(), directory, facts)
    assert stale.status == FAIL and stale.message.startswith("stale")
    held["smemu-toy-trainer:latest"] = ImageFacts("smemu-toy-trainer:latest", True,
                                                  context=current)
    assert doctor.check_images(object(), directory, facts).status == OK
    held["smemu-toy-trainer:latest"] = ImageFacts("smemu-toy-trainer:latest", True)
    unknown = doctor.check_images(object(), directory, facts)
    assert unknown.status == OK and "cannot tell" in unknown.message


def test_the_endpoint_down_or_of_another_version() -> None:
    down = doctor.check_endpoint("http://127.0.0.1:4999", None)
    assert down.status == FAIL and "smemu up --port 4999" in down.message
    assert doctor.check_s3("http://127.0.0.1:4999", None).status == SKIP
    old = doctor.check_endpoint("http://127.0.0.1:4590", {"version": "0.0.0-old"})
    assert old.status == FAIL and "smemu down" in old.message


def test_the_state_directory_must_be_writable_with_space(tmp_path: Path) -> None:
    assert doctor.check_state_dir(tmp_path / "state").status == OK
    full = doctor.check_state_dir(tmp_path / "state", min_free=1 << 62)
    assert full.status == FAIL and "GiB free" in full.message
    blocker = tmp_path / "file"
    blocker.write_text("")
    unwritable = doctor.check_state_dir(blocker / "state")
    assert unwritable.status == FAIL and "SMEMU_STATE_DIR" in unwritable.message


def test_inotify_limits_against_a_full_size_job(tmp_path: Path) -> None:
    (tmp_path / "max_user_instances").write_text("128\n")
    (tmp_path / "max_user_watches").write_text("65536\n")
    assert doctor.check_inotify(tmp_path, in_use=10).status == OK
    tight = doctor.check_inotify(tmp_path, in_use=120)
    assert tight.status == FAIL and "max_user_instances" in tight.message
    (tmp_path / "max_user_watches").write_text("1000\n")
    assert doctor.check_inotify(tmp_path, in_use=0).status == FAIL
    assert doctor.check_inotify(tmp_path / "nowhere").status == SKIP
    assert doctor.inotify_in_use() >= 0


def test_loopback() -> None:
    assert doctor.check_loopback("http://127.0.0.1:1", None).status == OK
    exposed = doctor.check_loopback("http://10.1.2.3:4590", {"version": "x"})
    assert exposed.status == FAIL and "127.0.0.1" in exposed.message

"""Build small throwaway training images FROM smemu-base for tests (offline, labelled).

Each test session tags its images with its own id and labels them with it: sessions running at
once on one Docker daemon (helpers, CI jobs, xdist workers) never share a tag, so one session's
cleanup cannot delete an image another is running, and each removes only what it built.
"""

from __future__ import annotations

import io
import os
import secrets
import tarfile
from typing import Any

SESSION_ID = f"s{os.getpid()}-{secrets.token_hex(4)}"
SESSION_LABEL = "smemu.test-session"


def session_image(name: str) -> str:
    """``name`` tagged for this session only, e.g. ``smemu-test-writer:s4242-0a1b2c3d``."""
    return f"{name}:{SESSION_ID}"


def remove_session_images(client: Any, name: str | None = None) -> list[str]:
    """Remove the images this session built (by its label), and only those; their ids.
    ``name``: only this repository's (the session's end passes none)."""
    removed = []
    for image in client.images.list(name=name,
                                    filters={"label": f"{SESSION_LABEL}={SESSION_ID}"}):
        try:
            client.images.remove(image.id, force=True)
        except Exception:  # removed meanwhile, e.g. by its module's fixture
            continue
        removed.append(image.id)
    return removed


def build_script_image(client: Any, tag: str, script: str,
                       extra_files: dict[str, str] | None = None,
                       base: str = "smemu-base:latest") -> str:
    """An image whose entrypoint runs `script` with python3; extra files go to their paths.
    Give it a ``session_image`` tag: the build is labelled with this session's id. `base`:
    e.g. smemu-toolkit-trainer:latest for a script that needs boto3."""
    files = {"script.py": script, **(extra_files or {})}
    lines = [f"FROM {base}", "COPY script.py /script.py"]
    lines += [f"COPY {path} /{path}" for path in extra_files or {}]
    lines.append('ENTRYPOINT ["python3", "-u", "/script.py"]')
    files["Dockerfile"] = "\n".join(lines) + "\n"
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data.encode())
            tar.addfile(info, io.BytesIO(data.encode()))
    context.seek(0)
    client.images.build(fileobj=context, custom_context=True, tag=tag,
                        labels={"smemu.managed": "true", SESSION_LABEL: SESSION_ID},
                        network_mode="none", rm=True)
    return tag

"""Build small throwaway training images FROM smemu-base for tests (offline, labelled)."""

from __future__ import annotations

import io
import tarfile
from typing import Any


def build_script_image(client: Any, tag: str, script: str,
                       extra_files: dict[str, str] | None = None) -> str:
    """An image whose entrypoint runs `script` with python3; extra files go to their paths."""
    files = {"script.py": script, **(extra_files or {})}
    lines = ["FROM smemu-base:latest", "COPY script.py /script.py"]
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
                        labels={"smemu.managed": "true"}, network_mode="none", rm=True)
    return tag

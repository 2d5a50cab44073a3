"""`smemu run --build DIR`: a training image built from DIR's Dockerfile, cached by content.

The image is tagged by what the build would read (the files Docker sends, .dockerignore
applied, hashed): an unchanged DIR is not built again, an edited one is, and Docker's own layer
cache makes that rebuild cheap. Offline first: when the Dockerfile takes `ARG BASE_IMAGE` and
its default is not in the local engine, the build runs on the local base (`smemu-base:latest`,
which `make images` makes without a registry) instead of trying a pull.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emulator.errors import EmulatorError

LOCAL_BASE = "smemu-base:latest"
LABEL_CONTEXT = "smemu.build.context"  # the directory's absolute path
LABEL_HASH = "smemu.build.hash"  # sha256 of the build context (context_digest)
DEFAULT_REPOSITORY_PREFIX = "smemu-build-"
_ARG_BASE = re.compile(r"^\s*ARG\s+BASE_IMAGE(?:=(?P<default>\S*))?\s*$", re.IGNORECASE)
_FROM = re.compile(r"^\s*FROM\s", re.IGNORECASE)


@dataclass(frozen=True)
class BuiltImage:
    tag: str
    digest: str  # of the build context
    cached: bool  # True: an image of this very context existed, nothing was built
    base_image: str | None = None  # the BASE_IMAGE build argument given, if any


def check_context(context: Path) -> Path:
    """The build directory, absolute; an error a user can act on when it is no build context."""
    if not context.is_dir():
        raise EmulatorError(f"--build {context}: no such directory")
    if not (context / "Dockerfile").is_file():
        raise EmulatorError(f"--build {context}: no Dockerfile in it (smemu builds the "
                            "training image from DIR/Dockerfile)")
    return context.resolve()


def context_digest(context: Path) -> str:
    """sha256 over the files `docker build` would send: relative path, executable bit, bytes."""
    from docker.utils.build import exclude_paths

    ignore = context / ".dockerignore"
    patterns = [line.strip() for line in ignore.read_text().splitlines()
                if line.strip() and not line.startswith("#")] if ignore.is_file() else []
    digest = hashlib.sha256()
    for relative in sorted(exclude_paths(str(context), patterns, dockerfile="Dockerfile")):
        path = context / relative
        if path.is_symlink():
            digest.update(f"L {relative} {os.readlink(path)}\n".encode())
        elif path.is_file():
            digest.update(f"F {relative} {os.access(path, os.X_OK)} {path.stat().st_size}\n"
                          .encode())
            with path.open("rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    digest.update(chunk)
    return digest.hexdigest()


def default_tag(context: Path, digest: str) -> str:
    """smemu-build-<dir name>:<first 12 hex digits of the context's digest>."""
    name = re.sub(r"[^a-z0-9]+", "-", context.name.lower()).strip("-") or "image"
    return f"{DEFAULT_REPOSITORY_PREFIX}{name[:60]}:{digest[:12]}"


def base_image_default(dockerfile: str) -> str | None:
    """The default of `ARG BASE_IMAGE=...` before the first FROM ('' without a default);
    None when the Dockerfile takes no such argument."""
    for line in dockerfile.splitlines():
        if _FROM.match(line):
            return None
        match = _ARG_BASE.match(line)
        if match:
            return match.group("default") or ""
    return None


def build_image(context: Path, tag: str | None = None, *,
                progress: Callable[[str], None] = lambda line: None,
                client: Any = None) -> BuiltImage:
    """Build (or reuse) the image of `context`; `progress` gets each line of the build."""
    import docker
    import docker.errors

    context = check_context(context)
    digest = context_digest(context)
    tag = tag or default_tag(context, digest)
    client = client or docker.from_env()
    existing = _image(client, tag)
    if existing is not None and (existing.labels or {}).get(LABEL_HASH) == digest:
        return BuiltImage(tag, digest, cached=True)
    build_args = {}
    default = base_image_default((context / "Dockerfile").read_text())
    if default is not None and (not default or _image(client, default) is None) \
            and _image(client, LOCAL_BASE) is not None:
        build_args["BASE_IMAGE"] = LOCAL_BASE
        progress(f"{default or 'BASE_IMAGE'} is not in the local engine: building on "
                 f"{LOCAL_BASE}")
    labels = {LABEL_CONTEXT: str(context), LABEL_HASH: digest}
    try:
        stream = client.api.build(path=str(context), tag=tag, labels=labels,
                                  buildargs=build_args, rm=True, forcerm=True, decode=True)
        errors = _follow(stream, progress)
    except docker.errors.APIError as err:
        raise EmulatorError(f"docker build of {context} failed: {err.explanation or err}") \
            from err
    if errors:
        raise EmulatorError(f"docker build of {context} failed: {errors[-1]}")
    _remove_previous(client, context, tag)
    return BuiltImage(tag, digest, cached=False, base_image=build_args.get("BASE_IMAGE"))


def _follow(stream: Any, progress: Callable[[str], None]) -> list[str]:
    errors = []
    for chunk in stream:
        if "error" in chunk:
            errors.append(str(chunk["error"]).strip())
            progress(errors[-1])
        for line in str(chunk.get("stream", "")).splitlines():
            if line.strip():
                progress(line.rstrip())
    return errors


def _image(client: Any, name: str) -> Any:
    import docker.errors

    try:
        return client.images.get(name)
    except docker.errors.ImageNotFound:
        return None


def _remove_previous(client: Any, context: Path, tag: str) -> None:
    """Earlier builds of this directory under smemu's own default tags (or left untagged by
    this build): removed when no container uses them. A tag the user chose is never removed."""
    import docker.errors

    current = _image(client, tag)
    for image in client.images.list(filters={"label": f"{LABEL_CONTEXT}={context}"}):
        if current is not None and image.id == current.id:
            continue
        if not all(t.startswith(DEFAULT_REPOSITORY_PREFIX) for t in image.tags):
            continue
        try:
            client.images.remove(image.id, noprune=False)
        except docker.errors.APIError:
            continue  # in use by a container, or removed meanwhile


def image_environment(image: str, client: Any = None) -> dict[str, str] | None:
    """The image's ENV (Config.Env), or None when the local engine has no such image."""
    import docker

    found = _image(client or docker.from_env(), image)
    if found is None:
        return None
    pairs = (item.partition("=") for item in found.attrs.get("Config", {}).get("Env") or ())
    return {key: value for key, _, value in pairs}

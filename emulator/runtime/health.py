"""What `smemu doctor` asks the Docker engine: is it there, which version and storage driver,
and which of smemu's images it holds (with the build context each was made from)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import docker

CONTEXT_LABEL = "smemu.context"  # images/build.sh: the sha256 of the image's build directory


@dataclass(frozen=True)
class EngineFacts:
    reachable: bool
    error: str = ""
    version: str = ""
    api_version: str = ""
    storage_driver: str = ""
    host: str = ""


@dataclass(frozen=True)
class ImageFacts:
    tag: str
    present: bool
    created: float | None = None
    context: str | None = None  # the CONTEXT_LABEL it was built with


def engine_facts(timeout: float = 5.0) -> tuple[EngineFacts, Any]:
    """The engine's facts and a client of it (None when it cannot be reached)."""
    client: Any = None
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
        version = client.version()
        info = client.info()
    except Exception as err:  # docker raises many kinds; each means "not usable"
        if client is not None:
            client.close()
        return EngineFacts(False, error=_short(err)), None
    return EngineFacts(True, version=str(version.get("Version", "?")),
                       api_version=str(version.get("ApiVersion", "?")),
                       storage_driver=str(info.get("Driver", "?")),
                       host=os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"), client


def image_facts(client: Any, tag: str) -> ImageFacts:
    try:
        image = client.images.get(tag)
    except docker.errors.ImageNotFound:
        return ImageFacts(tag, False)
    created = str(image.attrs.get("Created") or "")
    labels = (image.attrs.get("Config") or {}).get("Labels") or {}
    return ImageFacts(tag, True, _epoch(created), labels.get(CONTEXT_LABEL))


def _epoch(stamp: str) -> float | None:
    if not stamp:
        return None
    head, _, rest = stamp.partition(".")  # nanoseconds: more than fromisoformat takes
    zone = rest[rest.find("Z"):] if "Z" in rest else rest.lstrip("0123456789")
    try:
        return datetime.fromisoformat(head + (zone.replace("Z", "+00:00") or "+00:00")).timestamp()
    except ValueError:
        return None


def _short(err: BaseException) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return text[:200]

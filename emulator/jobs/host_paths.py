"""Which host paths a request may name: only those inside the endpoint's `--allow-path` roots.

A request can name host paths in two places: a ``file://`` channel S3Uri (copied into the
container's /opt/ml/input/data) and the ``smemu:code-dir`` tag (bind-mounted read-only). Anyone
who reaches the port could otherwise read every file the endpoint's user can. Paths are checked
with ``realpath`` (``..`` and symlinks resolved) when the job is created and again when it is
used; the copy itself never follows a symlink out of the roots (jobs/confined_copy.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from emulator.errors import JobClientError, ValidationException
from emulator.jobs.settings import TAG_CODE_DIR
from emulator.validation import validate_request

FILE_SCHEME = "file://"
ALLOW_FLAG = "--allow-path"
# Stands in for file:// while the request is checked against the service model, whose S3Uri
# pattern knows s3:// and https:// only (the path is kept: its length and characters are
# still checked); the roots decide on the path.
_VALIDATION_STAND_IN = "s3://smemu-host-path"


@dataclass(frozen=True)
class NamedPath:
    """A host path a request names, and what names it (for the error message)."""

    what: str  # "Channel 'train'" | "Tag smemu:code-dir"
    path: str


def is_host_uri(uri: str) -> bool:
    return uri.startswith(FILE_SCHEME)


def host_path_of(uri: str) -> str:
    """``file:///data/x`` -> ``/data/x`` (the path as written: no percent-decoding)."""
    return uri[len(FILE_SCHEME):]


def within(path: str, root: str) -> bool:
    """True if ``path`` is ``root`` or below it (both already resolved)."""
    return path == root or path.startswith(root.rstrip("/") + "/")


@dataclass(frozen=True)
class HostPaths:
    """The endpoint's allowed roots (``smemu serve --allow-path DIR``); none: every host path
    a request names is refused."""

    roots: tuple[str, ...] = ()

    @classmethod
    def of(cls, roots: Iterable[str | os.PathLike[str]]) -> HostPaths:
        """Roots as given (absolute); each is resolved again at every check, so that a root
        that is created, or whose parent is re-linked, later still means what it names."""
        given = (os.fspath(root) for root in roots)
        return cls(tuple(dict.fromkeys(os.path.abspath(r) for r in given if r)))

    def resolved_roots(self) -> list[str]:
        return [os.path.realpath(root) for root in self.roots]

    def root_of(self, real_path: str) -> str | None:
        """The resolved root holding an already resolved path, or None."""
        return next((root for root in self.resolved_roots() if within(real_path, root)), None)

    def resolve(self, what: str, path: str) -> str:
        """The real path (``..`` and every symlink resolved) if it lies inside a root;
        otherwise a ValidationException that says how to allow it."""
        if not path.startswith("/") or "\0" in path:
            raise ValidationException(f"{what}: the host path {path!r} must be absolute "
                                      "(and hold no NUL)")
        real = os.path.realpath(path)
        if self.root_of(real) is None:
            raise ValidationException(refusal_message(what, path, real, self.roots))
        return real

    def resolve_at_use(self, what: str, path: str) -> str:
        """``resolve`` again when the path is used: allowed at CreateTrainingJob, it may have
        been re-linked since; the job's fault then (JobClientError)."""
        try:
            return self.resolve(what, path)
        except ValidationException as err:
            raise JobClientError(str(err)) from None

    def check(self, named: Iterable[NamedPath]) -> None:
        for each in named:
            self.resolve(each.what, each.path)


def refusal_message(what: str, path: str, real: str, roots: Sequence[str]) -> str:
    # The resolved path itself is not told: it would show a remote caller where links point.
    resolved = "" if real == os.path.normpath(path) else " (with `..` and symlinks resolved)"
    allowed = ", ".join(roots) if roots else "none"
    return (f"{what} names the host path {path}{resolved}, outside the directories this smemu "
            f"endpoint may read (allowed: {allowed}). Host paths are refused unless they lie "
            f"inside a directory given with `smemu serve {ALLOW_FLAG} DIR` (repeatable; also "
            f"`smemu up {ALLOW_FLAG} DIR`, $SMEMU_ALLOW_PATH).")


def _channels(request: Mapping[str, Any]) -> list[dict[str, Any]]:
    channels = request.get("InputDataConfig")
    return [c for c in channels if isinstance(c, dict)] if isinstance(channels, list) else []


def _source(channel: Mapping[str, Any]) -> dict[str, Any]:
    source = (channel.get("DataSource") or {})
    s3 = source.get("S3DataSource") if isinstance(source, dict) else None
    return s3 if isinstance(s3, dict) else {}


def named_paths(request: Mapping[str, Any]) -> list[NamedPath]:
    """Every host path a CreateTrainingJob request names: file:// channels, smemu:code-dir."""
    named = [NamedPath(f"Channel '{channel.get('ChannelName')}'", host_path_of(uri))
             for channel in _channels(request)
             if isinstance(uri := _source(channel).get("S3Uri"), str) and is_host_uri(uri)]
    tags = request.get("Tags")
    for tag in tags if isinstance(tags, list) else []:
        if isinstance(tag, dict) and tag.get("Key") == TAG_CODE_DIR \
                and isinstance(tag.get("Value"), str):
            named.append(NamedPath(f"Tag {TAG_CODE_DIR}", str(tag["Value"])))
    return named


def for_validation(request: dict[str, Any]) -> dict[str, Any]:
    """The request with each file:// channel URI swapped for an s3:// stand-in, so that the
    service model's S3Uri pattern does not refuse what the roots decide on."""
    if not any(is_host_uri(str(_source(c).get("S3Uri", ""))) for c in _channels(request)):
        return request
    channels = []
    for channel in request["InputDataConfig"]:
        source = _source(channel) if isinstance(channel, dict) else {}
        if is_host_uri(str(source.get("S3Uri", ""))):
            channel = {**channel, "DataSource": {**channel["DataSource"], "S3DataSource": {
                **source, "S3Uri": _VALIDATION_STAND_IN + host_path_of(source["S3Uri"])}}}
        channels.append(channel)
    return {**request, "InputDataConfig": channels}


def validate_create(request: dict[str, Any], required: tuple[str, ...]) -> None:
    """CreateTrainingJob against the service model, file:// channels as if they named S3;
    an error about one quotes the URI as the request wrote it."""
    try:
        validate_request("CreateTrainingJob", for_validation(request), required=required)
    except ValidationException as err:
        raise type(err)(str(err).replace(f"'{_VALIDATION_STAND_IN}/",
                                         f"'{FILE_SCHEME}/")) from None

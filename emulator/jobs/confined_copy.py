"""A file:// channel's copy that cannot leave the endpoint's allowed roots.

The directory is the user's, but whoever reaches the port chose it, and a symlink inside it may
point anywhere. A symlink is followed only when its target (resolved now) lies inside an
allowed root: datasets often link into a cache, and a cache inside the roots is fine. Every
file is then read through `checkpoints.localfs.open_regular` from its root, component by
component with ``O_NOFOLLOW``: a path swapped for a symlink after the check (TOCTOU) is not
read, it is skipped.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from emulator.checkpoints.localfs import open_regular
from emulator.errors import JobClientError
from emulator.jobs.host_paths import HostPaths
from emulator.storage.artifacts import Shard, take_shard

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Source:
    """A regular file to copy: its allowed root and its path below it (no symlinks on it)."""

    root: str
    relative: str


@dataclass
class Found:
    files: dict[str, Source] = field(default_factory=dict)  # name in the channel -> source
    skipped: list[str] = field(default_factory=list)  # out of the roots, special, or a loop


def _below(root: str, real: str) -> str:
    return "" if real == root else os.path.relpath(real, root)


def _join(prefix: str, name: str) -> str:
    return f"{prefix}/{name}" if prefix else name


def find_files(policy: HostPaths, real_dir: str) -> Found:
    """Every regular file reachable below ``real_dir`` (resolved, inside a root) without
    leaving the roots."""
    found = Found()
    _walk(policy, real_dir, "", (real_dir,), found)
    return found


def _walk(policy: HostPaths, real_dir: str, prefix: str, ancestors: tuple[str, ...],
          found: Found) -> None:
    root = policy.root_of(real_dir)
    if root is None:  # re-linked since it was resolved
        found.skipped.append(prefix or ".")
        return
    try:
        entries = sorted(os.scandir(real_dir), key=lambda e: e.name)
    except OSError:
        found.skipped.append(prefix or ".")
        return
    for entry in entries:
        name = _join(prefix, entry.name)
        try:
            if entry.is_symlink():
                _follow(policy, entry.path, name, ancestors, found)
            elif entry.is_dir(follow_symlinks=False):
                child = os.path.join(real_dir, entry.name)
                _walk(policy, child, name, (*ancestors, child), found)
            elif entry.is_file(follow_symlinks=False):
                found.files[name] = Source(root, _join(_below(root, real_dir), entry.name))
            else:
                found.skipped.append(name)
        except OSError:
            found.skipped.append(name)


def _follow(policy: HostPaths, link: str, name: str, ancestors: tuple[str, ...],
            found: Found) -> None:
    target = os.path.realpath(link)
    root = policy.root_of(target)
    if root is None or target in ancestors:  # out of the roots, or a loop
        found.skipped.append(name)
    elif os.path.isdir(target):
        _walk(policy, target, name, (*ancestors, target), found)
    elif os.path.isfile(target):
        found.files[name] = Source(root, _below(root, target))
    else:
        found.skipped.append(name)


def copy_confined(policy: HostPaths, source: str, target: Path, shard: Shard | None,
                  what: str = "A file:// channel") -> list[str]:
    """Copy the host directory ``source`` into ``target`` (this host's shard of it); returns
    the names skipped (symlinks out of the roots, special files, paths changed under us)."""
    real = policy.resolve_at_use(what, source)
    if not os.path.isdir(real):
        raise JobClientError(f"{what}: the host directory {source} does not exist "
                             "(or is not a directory)")
    found = find_files(policy, real)
    for name in take_shard(list(found.files), shard):
        if not _copy_file(found.files[name], target / name):
            found.skipped.append(name)
    if found.skipped:
        log.warning("%s %s: not copied (symlinks out of the allowed directories, special "
                    "files, or changed while copied): %s", what, source,
                    ", ".join(sorted(found.skipped)[:20]))
    return sorted(found.skipped)


def _copy_file(source: Source, destination: Path) -> bool:
    opened = open_regular(Path(source.root), source.relative) if source.relative else None
    if opened is None:
        return False
    with opened:
        destination.parent.mkdir(parents=True, exist_ok=True)
        # From the very inode opened, never by its name again.
        with os.fdopen(os.dup(opened.fd), "rb") as reader, destination.open("wb") as writer:
            shutil.copyfileobj(reader, writer, 1024 * 1024)
        st = os.fstat(opened.fd)
        os.chmod(destination, st.st_mode & 0o777)
        os.utime(destination, ns=(st.st_atime_ns, st.st_mtime_ns))
    return True

"""Local files as the mirror sees them: regular files only, symlinks never followed.

A checkpoint directory is written by code we do not trust (a training container). Every path is
resolved component by component with ``O_NOFOLLOW`` relative to the root, so a symlink anywhere
in a relative path (file or parent directory) makes that path "not a regular file". Uploads read
through ``/proc/self/fd/N`` where available, so swapping the path for a symlink mid-upload cannot
make us read another file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

from emulator.checkpoints.sagemaker_names import is_marker

_CHUNK = 1024 * 1024
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class FileSig(NamedTuple):
    """What tells two versions of a file apart without reading it."""

    size: int
    mtime_ns: int
    inode: int

    @classmethod
    def of(cls, st: os.stat_result) -> FileSig:
        return cls(st.st_size, st.st_mtime_ns, st.st_ino)


@lru_cache(maxsize=1)
def _has_proc_fd() -> bool:
    return sys.platform.startswith("linux") and os.path.isdir("/proc/self/fd")


def _dir_fd_supported() -> bool:
    return os.open in os.supports_dir_fd and bool(_O_NOFOLLOW)


def _split(relative_path: str) -> list[str]:
    parts = relative_path.split("/")
    if not relative_path or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"not a clean relative path: {relative_path!r}")
    return parts


@contextlib.contextmanager
def _parent_dir_fd(root: Path, parts: list[str]) -> Iterator[int]:
    """An fd of the directory holding ``parts[-1]``, reached without following symlinks."""
    fd = os.open(root, os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC)
    try:
        for name in parts[:-1]:
            nxt = os.open(name, os.O_RDONLY | _O_DIRECTORY | _O_NOFOLLOW | _O_CLOEXEC, dir_fd=fd)
            os.close(fd)
            fd = nxt
        yield fd
    finally:
        os.close(fd)


def _lstat_nofollow(root: Path, relative_path: str) -> os.stat_result | None:
    """lstat of ``root/relative_path`` reached without following any symlink on the way."""
    parts = _split(relative_path)
    try:
        if not _dir_fd_supported():
            return os.lstat(root.joinpath(*parts))
        with _parent_dir_fd(root, parts) as dfd:
            return os.stat(parts[-1], dir_fd=dfd, follow_symlinks=False)
    except OSError:
        return None


def stat_regular(root: Path, relative_path: str) -> FileSig | None:
    """The signature of ``root/relative_path`` if it is a regular file reached without symlinks."""
    st = _lstat_nofollow(root, relative_path)
    return FileSig.of(st) if st is not None and stat.S_ISREG(st.st_mode) else None


@dataclass
class OpenedFile:
    """A regular file held open; ``read_path`` names exactly this inode while it is open."""

    fd: int
    sig: FileSig
    read_path: str
    _closed: bool = field(default=False, repr=False)

    def sha256(self) -> str:
        return sha256_fd(self.fd)

    def current_sig(self) -> FileSig:
        return FileSig.of(os.fstat(self.fd))

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            os.close(self.fd)

    def __enter__(self) -> OpenedFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_regular(root: Path, relative_path: str) -> OpenedFile | None:
    """Open ``root/relative_path`` for reading if it is a regular file reached without symlinks.

    Returns None when it is missing, a symlink (anywhere in the path), a directory or a special
    file. FIFOs are opened non-blocking so they cannot hang the caller.
    """
    parts = _split(relative_path)
    flags = os.O_RDONLY | _O_NOFOLLOW | _O_NONBLOCK | _O_CLOEXEC
    full = str(root.joinpath(*parts))
    try:
        if _dir_fd_supported():
            with _parent_dir_fd(root, parts) as dfd:
                fd = os.open(parts[-1], flags, dir_fd=dfd)
        else:
            fd = os.open(full, flags)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
    except OSError:
        os.close(fd)
        return None
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        return None
    read_path = f"/proc/self/fd/{fd}" if _has_proc_fd() else full
    return OpenedFile(fd=fd, sig=FileSig.of(st), read_path=read_path)


def sha256_fd(fd: int) -> str:
    """SHA-256 of an open file's whole content, read with ``pread`` (the offset is untouched)."""
    digest = hashlib.sha256()
    offset = 0
    while True:
        chunk = os.pread(fd, _CHUNK, offset)
        if not chunk:
            return digest.hexdigest()
        digest.update(chunk)
        offset += len(chunk)


def sha256_file(path: Path) -> str:
    """SHA-256 of a file's content (follows ``path`` as given: use for files we wrote)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class Walk:
    """Regular files below a root (relative posix path → signature) and what was passed over."""

    files: dict[str, FileSig] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


def walk_regular_files(root: Path, below: str = "") -> Walk:
    """Every regular file under ``root`` (or under ``root/below``), never entering symlinks.

    Symlinks (to files or directories) and special files go to ``skipped``.
    """
    result = Walk()
    start = root.joinpath(*below.split("/")) if below else root
    if below and stat_dir_nofollow(root, below) is False:
        return result
    stack: list[tuple[Path, str]] = [(start, f"{below}/" if below else "")]
    while stack:
        directory, rel_prefix = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            continue
        for entry in entries:
            rel = rel_prefix + entry.name
            try:
                if entry.is_symlink():
                    result.skipped.append(rel)
                elif entry.is_dir(follow_symlinks=False):
                    stack.append((Path(entry.path), rel + "/"))
                elif entry.is_file(follow_symlinks=False):
                    result.files[rel] = FileSig.of(entry.stat(follow_symlinks=False))
                else:
                    result.skipped.append(rel)
            except FileNotFoundError:
                continue
    return result


def stat_dir_nofollow(root: Path, relative_path: str) -> bool:
    """True if ``root/relative_path`` is a directory reached without following symlinks."""
    st = _lstat_nofollow(root, relative_path)
    return st is not None and stat.S_ISDIR(st.st_mode)


def touch_nofollow(root: Path, relative_path: str) -> None:
    """Create (or truncate) an empty regular file; never writes through a symlink."""
    parts = _split(relative_path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _O_NOFOLLOW | _O_NONBLOCK | _O_CLOEXEC
    if _dir_fd_supported():
        with _parent_dir_fd(root, parts) as dfd:
            fd = os.open(parts[-1], flags, 0o644, dir_fd=dfd)
    else:
        fd = os.open(root.joinpath(*parts), flags, 0o644)
    os.close(fd)


def remove_nofollow(root: Path, relative_path: str) -> None:
    """Remove a file (or a symlink itself) if present; missing is fine."""
    parts = _split(relative_path)
    try:
        if _dir_fd_supported():
            with _parent_dir_fd(root, parts) as dfd:
                os.unlink(parts[-1], dir_fd=dfd)
        else:
            os.unlink(root.joinpath(*parts))
    except (FileNotFoundError, NotADirectoryError):
        pass


def count_checkpoint_files(root: Path) -> int:
    """The files a checkpoint directory holds (SageMaker's marker files aside)."""
    return sum(1 for rel in walk_regular_files(root).files if not is_marker(rel)) \
        if root.is_dir() else 0

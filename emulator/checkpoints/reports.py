"""What the mirror tells its caller: one event per completed action, a report per flush."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from emulator.checkpoints.manifest import FileEntry
from emulator.errors import CheckpointError

EventKind = Literal["uploaded", "deleted", "error"]


@dataclass(frozen=True)
class MirrorEvent:
    """One completed action. ``at`` is ``time.time()`` at completion; ``seconds`` its duration.

    For ``error`` events ``message`` says what failed; ``sha256`` is None unless uploaded.
    ``modified_at``: an upload's content was last written then (its mtime, epoch seconds).
    """

    kind: EventKind
    path: str
    size: int
    sha256: str | None
    at: float
    seconds: float
    message: str | None = None
    modified_at: float | None = None


@dataclass
class SyncReport:
    """Actions since the previous report, and what is still not mirrored.

    ``uploaded``/``deleted``: every completed upload (a path may appear more than once) and
    deletion. ``errors``: failures still unresolved when the report was taken: the local file
    is not (known to be) in S3, or a deleted file's key may still be there. ``recovered``: errors
    seen since the previous report that a later attempt fixed. ``dropped``: pending paths thrown
    away by ``stop(flush=False)``.
    """

    uploaded: list[FileEntry] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def raise_for_errors(self) -> SyncReport:
        """Raise CheckpointError listing the unresolved errors; return self when there are none."""
        if self.errors:
            shown = "; ".join(self.errors[:5])
            more = f" (and {len(self.errors) - 5} more)" if len(self.errors) > 5 else ""
            raise CheckpointError(f"checkpoint mirror failed: {shown}{more}")
        return self

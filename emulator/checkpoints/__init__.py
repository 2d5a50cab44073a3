"""Checkpoints: mirror a local directory to an S3 prefix and restore it back.

Knows nothing about Docker or jobs: give it a path, an ``s3://bucket/prefix`` and a blob store
(``emulator.storage.blobstore``; ``S3Endpoint.blob_store()`` gives one). Importing this package
does no I/O.
"""

from emulator.checkpoints.manifest import (
    FileEntry,
    Manifest,
    ManifestDiff,
    diff,
    local_manifest,
    s3_manifest,
    verify_mirror,
)
from emulator.checkpoints.mirror import CheckpointMirror
from emulator.checkpoints.progress import RestoreProgress
from emulator.checkpoints.reports import EventKind, MirrorEvent, SyncReport
from emulator.checkpoints.restore import ProgressCallback, RestoreReport, restore
from emulator.checkpoints.sagemaker_names import IGNORE_SUFFIX, UPLOADED_SUFFIX, UPLOADING_SUFFIX
from emulator.checkpoints.transfer import default_transfer_config
from emulator.s3uri import S3Location, join_key, parse_s3_uri

__all__ = [
    "IGNORE_SUFFIX",
    "UPLOADED_SUFFIX",
    "UPLOADING_SUFFIX",
    "CheckpointMirror",
    "EventKind",
    "FileEntry",
    "Manifest",
    "ManifestDiff",
    "MirrorEvent",
    "ProgressCallback",
    "RestoreProgress",
    "RestoreReport",
    "S3Location",
    "SyncReport",
    "default_transfer_config",
    "diff",
    "join_key",
    "local_manifest",
    "parse_s3_uri",
    "restore",
    "s3_manifest",
    "verify_mirror",
]

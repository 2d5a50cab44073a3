"""SageMaker's special names in a checkpoint directory: files left alone, marker files."""

from __future__ import annotations

IGNORE_SUFFIX = ".sagemaker-ignore"
UPLOADING_SUFFIX = ".sagemaker-uploading"
UPLOADED_SUFFIX = ".sagemaker-uploaded"
MARKER_SUFFIXES = (UPLOADING_SUFFIX, UPLOADED_SUFFIX)


def is_marker(relative_path: str) -> bool:
    """True for ``<file>.sagemaker-uploading`` / ``<file>.sagemaker-uploaded``."""
    return relative_path.endswith(MARKER_SUFFIXES)


def is_ignored(relative_path: str) -> bool:
    """True for files never mirrored: ``*.sagemaker-ignore`` and the marker files."""
    return relative_path.endswith(IGNORE_SUFFIX) or is_marker(relative_path)


def uploading_marker(relative_path: str) -> str:
    return relative_path + UPLOADING_SUFFIX


def uploaded_marker(relative_path: str) -> str:
    return relative_path + UPLOADED_SUFFIX

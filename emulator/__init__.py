"""smemu: run SageMaker training containers locally.

Checkpoints are mirrored to S3 and managed-spot interruptions are injected on purpose.

Python API (imported lazily, so `import emulator` does no I/O and loads nothing heavy)::

    from emulator import EndpointServer
    with EndpointServer(port=0, state_dir=tmp_path) as endpoint:
        sagemaker = boto3.client("sagemaker", endpoint_url=endpoint.url, ...)
"""

from __future__ import annotations

from typing import Any

from emulator.version import __version__

_LAZY = {
    "EndpointServer": ("emulator.server.endpoint", "EndpointServer"),
    "JobSettings": ("emulator.jobs.settings", "JobSettings"),
    "parse_plan": ("emulator.faults.plan", "parse_plan"),
    "parse_s3_faults": ("emulator.faults.s3_spec", "parse_s3_faults"),
    "EmulatorError": ("emulator.errors", "EmulatorError"),
}
__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'emulator' has no attribute {name!r}")
    import importlib

    module, attribute = _LAZY[name]
    return getattr(importlib.import_module(module), attribute)

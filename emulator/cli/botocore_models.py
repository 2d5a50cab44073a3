"""The CLI's botocore session: its SageMaker model trimmed to the operations the CLI calls.

botocore's SageMaker model has ~430 operations and ~3300 shapes; reading and parsing it is
~0.18 s of every command's start-up. The CLI calls five operations, so its session loads a
model holding those, every shape they reach and every modelled exception (so the client raises
the same classes), copied verbatim from the installed model: the client validates, serializes
and parses those operations exactly as the full one does. The copy is written once per botocore
version to ``$XDG_CACHE_HOME/smemu/botocore-models`` and written again when the model it came
from changes (its size or mtime) or the copy does (its SHA-256). Anything else (paginators,
endpoint rules, other services) botocore still finds in its own data. Any failure falls back
to the full model.

Only the CLI's clients use it: the endpoint validates requests with the full model
(``emulator.validation.botocore_session``).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

SERVICE = "sagemaker"
# Every SageMaker operation emulator/cli calls (tests/unit/test_cli_botocore_models.py checks).
CLI_OPERATIONS = ("CreateTrainingJob", "DeleteTrainingJob", "DescribeTrainingJob",
                  "ListTrainingJobs", "StopTrainingJob")
STAMP = "service-2.source.json"  # beside the trimmed model: what it was made from


def cache_root() -> Path:
    """``$XDG_CACHE_HOME/smemu/botocore-models``, else ``~/.cache/smemu/botocore-models``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "smemu" / "botocore-models"


@functools.cache
def cli_session() -> Any:
    """The CLI's botocore session (not the endpoint's): SageMaker's model trimmed when the
    cache can be read or written, else the full one."""
    import botocore.session

    session = botocore.session.get_session()
    loader = session.get_component("data_loader")
    try:
        models = trimmed_models_dir(loader, cache_root())
    except Exception:  # a cache that cannot be had costs time, never the command
        models = None
    if models is not None:
        loader.search_paths.insert(0, str(models))
    return session


def enum_values(shape_name: str) -> list[str]:
    """The values an enum shape of the CLI's SageMaker model allows (TrainingInstanceType):
    the same as the full model's, for every shape the CLI's operations reach."""
    return list(cli_session().get_service_model(SERVICE).shape_for(shape_name).enum)


def trimmed_models_dir(loader: Any, root: Path) -> Path | None:
    """The directory holding the trimmed ``sagemaker/<version>/service-2.json``, written (or
    written again) if it is missing or was made from another source; None if botocore's model
    cannot be found as a file (then the full model is used)."""
    import botocore

    api_version = loader.determine_latest_version(SERVICE, "service-2")
    source = _source_file(loader, api_version)
    if source is None:
        return None
    stat = source.stat()
    stamp = {"botocore": botocore.__version__, "source": str(source), "size": stat.st_size,
             "mtime_ns": stat.st_mtime_ns, "operations": list(CLI_OPERATIONS)}
    models = root / botocore.__version__
    target = models / SERVICE / api_version
    found = _read_json(target / STAMP)
    # The copy's own hash too: one changed or cut short since it was written is written again.
    if found != {**stamp, "sha256": _sha256(target / "service-2.json")}:
        # Read through a loader of its own: the session's would keep the full model cached.
        from botocore.loaders import Loader

        own = Loader(extra_search_paths=list(loader.search_paths),
                     include_default_search_paths=False)
        full = own.load_service_model(SERVICE, "service-2", api_version)
        target.mkdir(parents=True, exist_ok=True)
        trimmed = json.dumps(trim_model(full, CLI_OPERATIONS), separators=(",", ":")).encode()
        _write_atomically(target / "service-2.json", trimmed)
        _write_atomically(target / STAMP,  # last: a stamp vouches for a whole model
                          json.dumps({**stamp, "sha256": hashlib.sha256(trimmed).hexdigest()})
                          .encode())
    return models


def trim_model(model: dict[str, Any], operations: Iterable[str]) -> dict[str, Any]:
    """``model`` (a service-2 document) with only ``operations``, the shapes they reach and
    every exception shape (with the shapes those reach), each as it is in ``model``."""
    shapes = model["shapes"]
    operations = list(operations)
    pending = [name for name, shape in shapes.items() if shape.get("exception")]
    for name in operations:
        operation = model["operations"][name]
        pending += [operation[io]["shape"] for io in ("input", "output") if io in operation]
        pending += [error["shape"] for error in operation.get("errors", ())]
    kept: set[str] = set()
    while pending:
        name = pending.pop()
        if name in kept:
            continue
        kept.add(name)
        shape = shapes[name]
        pending += [shape[part]["shape"] for part in ("member", "key", "value") if part in shape]
        pending += [member["shape"] for member in shape.get("members", {}).values()]
    return {**model, "operations": {name: model["operations"][name] for name in operations},
            "shapes": {name: shapes[name] for name in shapes if name in kept}}


def _source_file(loader: Any, api_version: str) -> Path | None:
    """The file botocore loads the model from: the first search path holding it."""
    for path in loader.search_paths:
        for suffix in (".json", ".json.gz"):
            candidate = Path(path) / SERVICE / api_version / f"service-2{suffix}"
            if candidate.is_file():
                return candidate
    return None


def _sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _write_atomically(path: Path, content: bytes) -> None:
    """Another CLI process reading at the same time sees the old file or the new, whole."""
    import tempfile  # only when the cache is written

    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(content)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise

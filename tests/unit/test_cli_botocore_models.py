"""The CLI's SageMaker client is made from a trimmed copy of botocore's model
(emulator.cli.botocore_models): the operations the CLI calls, exactly as botocore has them, with
every shape they reach; written once to a cache, again when its source changes, and never a
reason for a command to fail."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import botocore
import botocore.session
import pytest
from botocore.loaders import Loader

from emulator.cli import botocore_models
from emulator.cli.botocore_models import (
    CLI_OPERATIONS,
    SERVICE,
    STAMP,
    cli_session,
    trim_model,
    trimmed_models_dir,
)

CLI_DIR = Path(botocore_models.__file__).parent


def _full_model() -> dict[str, Any]:
    return Loader().load_service_model(SERVICE, "service-2")


def _reached(shape: Any, names: set[str]) -> None:
    """Every shape name ``shape`` reaches, walked through botocore's own shape objects."""
    if shape is None or shape.name in names:
        return
    names.add(shape.name)
    for part in ("member", "key", "value"):
        if hasattr(shape, part):
            _reached(getattr(shape, part), names)
    for member in getattr(shape, "members", {}).values():
        _reached(member, names)


def _client(session: Any) -> Any:
    return session.create_client(SERVICE, region_name="us-east-1",
                                 endpoint_url="http://127.0.0.1:1",
                                 aws_access_key_id="a", aws_secret_access_key="b")


def _trimmed_session(models: Path) -> Any:
    session = botocore.session.get_session()
    session.get_component("data_loader").search_paths.insert(0, str(models))
    return session


def test_every_sagemaker_operation_the_cli_calls_is_in_the_trimmed_model() -> None:
    by_method = {botocore.xform_name(name): name for name in
                 botocore.session.get_session().get_service_model(SERVICE).operation_names}
    source = "\n".join(path.read_text() for path in CLI_DIR.glob("*.py"))
    called = {by_method[method] for method in
              re.findall(r"sagemaker\.(\w+)\(", source) + re.findall(
                  r"sagemaker\.get_paginator\(\s*\"(\w+)\"", source) if method in by_method}
    assert called >= {"CreateTrainingJob", "DescribeTrainingJob"}  # the scan does find calls
    assert called <= set(CLI_OPERATIONS), called - set(CLI_OPERATIONS)


def test_the_trimmed_model_is_the_full_one_for_the_cli_operations() -> None:
    full = _full_model()
    trimmed = trim_model(full, CLI_OPERATIONS)
    assert {key: value for key, value in trimmed.items() if key not in ("operations", "shapes")} \
        == {key: value for key, value in full.items() if key not in ("operations", "shapes")}
    assert trimmed["operations"] == {name: full["operations"][name] for name in CLI_OPERATIONS}
    # The closure, found independently through botocore's parsed model: the operations' input,
    # output and error shapes and every modelled exception, with all they reach.
    model = botocore.session.get_session().get_service_model(SERVICE)
    expected: set[str] = set()
    for name in CLI_OPERATIONS:
        operation = model.operation_model(name)
        for shape in (operation.input_shape, operation.output_shape, *operation.error_shapes):
            _reached(shape, expected)
    for shape in model.error_shapes:
        _reached(shape, expected)
    assert set(trimmed["shapes"]) == expected
    assert trimmed["shapes"] == {name: full["shapes"][name] for name in expected}
    assert len(trimmed["shapes"]) < len(full["shapes"]) / 5  # it is a trim


def test_a_client_of_the_trimmed_model_has_the_same_operations_and_exceptions(
        tmp_path: Path) -> None:
    models = trimmed_models_dir(Loader(), tmp_path)
    assert models is not None
    trimmed, full = _client(_trimmed_session(models)), _client(botocore.session.get_session())
    assert trimmed.meta.service_model.operation_names == sorted(CLI_OPERATIONS)
    assert {error.name for error in trimmed.meta.service_model.error_shapes} == \
        {error.name for error in full.meta.service_model.error_shapes}
    assert trimmed.can_paginate("list_training_jobs")  # paginators: botocore's own, found
    assert trimmed.meta.endpoint_url == full.meta.endpoint_url
    with pytest.raises(botocore.exceptions.ParamValidationError):  # validated as before
        trimmed.describe_training_job()


def _source_copy(tmp_path: Path) -> tuple[Loader, Path]:
    """A loader whose SageMaker model is a file of the test's own."""
    api_version = Loader().determine_latest_version(SERVICE, "service-2")
    source = tmp_path / "source" / SERVICE / api_version / "service-2.json"
    source.parent.mkdir(parents=True)
    source.write_text(json.dumps(_full_model()))
    return Loader(extra_search_paths=[str(tmp_path / "source")]), source


def test_the_cache_is_written_again_when_its_source_changed(tmp_path: Path) -> None:
    loader, source = _source_copy(tmp_path)
    models = trimmed_models_dir(loader, tmp_path / "cache")
    assert models == tmp_path / "cache" / botocore.__version__
    written = models / source.relative_to(tmp_path / "source")
    stamp = json.loads((written.parent / STAMP).read_text())
    assert stamp["source"] == str(source)
    good = written.read_text()

    written.write_text("{}")  # the copy changed under a stamp that still matches otherwise
    trimmed_models_dir(loader, tmp_path / "cache")
    assert written.read_text() == good

    stat = source.stat()  # the source is touched: a new botocore of the same version, say
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    trimmed_models_dir(loader, tmp_path / "cache")
    assert written.read_text() == good

    written.write_text("{}")
    (written.parent / STAMP).write_text(json.dumps({**stamp, "botocore": "0.0.0"}))
    trimmed_models_dir(loader, tmp_path / "cache")  # made by another botocore
    assert written.read_text() == good


def test_an_unwritable_cache_falls_back_to_the_full_model(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "not-a-dir").write_text("")  # root or not, nothing is made under a file
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "not-a-dir"))
    session = cli_session.__wrapped__()
    assert len(_client(session).meta.service_model.operation_names) == len(
        _full_model()["operations"])


def test_the_cli_session_uses_the_cache_under_xdg_cache_home(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    client = _client(cli_session.__wrapped__())
    assert client.meta.service_model.operation_names == sorted(CLI_OPERATIONS)
    assert list((tmp_path / "smemu" / "botocore-models").iterdir()) == [
        tmp_path / "smemu" / "botocore-models" / botocore.__version__]


def test_the_cli_checks_instance_types_against_the_same_enum(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from emulator import validation

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(botocore_models, "cli_session", cli_session.__wrapped__)
    assert botocore_models.enum_values("TrainingInstanceType") == \
        validation.enum_values("TrainingInstanceType")
    assert (tmp_path / "smemu" / "botocore-models").is_dir()  # from the trimmed model

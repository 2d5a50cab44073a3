"""The host-path policy and the confined copy, on a temp dir (the endpoint's side is
tests/e2e/test_host_paths.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from emulator.errors import JobClientError, ValidationException
from emulator.jobs.confined_copy import _copy_file, copy_confined, find_files
from emulator.jobs.host_paths import HostPaths, for_validation, named_paths, validate_create


@pytest.fixture()
def layout(tmp_path: Path) -> tuple[Path, Path]:
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "data" / "sub").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret").write_text("secret")
    (root / "data" / "a").write_text("a")
    (root / "data" / "sub" / "b").write_text("b")
    return root, outside


def test_only_paths_inside_a_root_resolve(layout: tuple[Path, Path]) -> None:
    root, outside = layout
    policy = HostPaths.of([root])
    assert policy.resolve("x", f"{root}/data") == os.path.realpath(root / "data")
    assert policy.resolve("x", str(root)) == os.path.realpath(root)
    (root / "out").symlink_to(outside)
    sibling = Path(f"{root}-sibling")  # a prefix of the root's name is not inside it
    for path in (str(outside), f"{root}/data/../../outside", f"{root}/out", str(sibling), "/"):
        with pytest.raises(ValidationException, match="--allow-path DIR"):
            policy.resolve("x", path)
    for bad in ("data", "/a\0b"):
        with pytest.raises(ValidationException, match="must be absolute"):
            policy.resolve("x", bad)
    with pytest.raises(ValidationException, match=r"\(allowed: none\)"):
        HostPaths().resolve("Channel 'train'", str(root))


def test_named_paths_and_the_validation_stand_in() -> None:
    request = {"InputDataConfig": [
        {"ChannelName": "a", "DataSource": {"S3DataSource": {"S3Uri": "file:///data/a"}}},
        {"ChannelName": "b", "DataSource": {"S3DataSource": {"S3Uri": "s3://b/k"}}}],
        "Tags": [{"Key": "smemu:code-dir", "Value": "/src"}, {"Key": "k", "Value": "/v"}]}
    assert [(n.what, n.path) for n in named_paths(request)] == [
        ("Channel 'a'", "/data/a"), ("Tag smemu:code-dir", "/src")]
    checked = for_validation(request)
    uris = [c["DataSource"]["S3DataSource"]["S3Uri"] for c in checked["InputDataConfig"]]
    assert uris == ["s3://smemu-host-path/data/a", "s3://b/k"]
    assert request["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] == \
        "file:///data/a"  # the request itself is left as it was
    assert for_validation({"TrainingJobName": "j"}) == {"TrainingJobName": "j"}


def test_links_out_of_the_roots_and_loops_are_not_copied(layout: tuple[Path, Path],
                                                          tmp_path: Path) -> None:
    root, outside = layout
    data = root / "data"
    (data / "leak").symlink_to(outside / "secret")
    (data / "leakdir").symlink_to(outside)
    (data / "loop").symlink_to(data)
    (data / "inside").symlink_to(data / "sub" / "b")
    (data / "fifo").parent.mkdir(exist_ok=True)
    os.mkfifo(data / "fifo")
    skipped = copy_confined(HostPaths.of([root]), str(data), tmp_path / "copy", None)
    assert sorted(skipped) == ["fifo", "leak", "leakdir", "loop"]
    copied = {p.relative_to(tmp_path / "copy").as_posix(): p.read_text()
              for p in (tmp_path / "copy").rglob("*") if p.is_file()}
    assert copied == {"a": "a", "inside": "b", "sub/b": "b"}
    assert not any(p.is_symlink() for p in (tmp_path / "copy").rglob("*"))


def test_a_directory_swapped_for_a_link_after_the_check_is_not_read(
        layout: tuple[Path, Path], tmp_path: Path) -> None:
    root, outside = layout
    policy = HostPaths.of([root])
    found = find_files(policy, os.path.realpath(root / "data"))
    assert set(found.files) == {"a", "sub/b"}
    (root / "data" / "sub" / "b").unlink()
    (root / "data" / "sub").rmdir()
    (outside / "b").write_text("secret")
    (root / "data" / "sub").symlink_to(outside)  # the TOCTOU swap
    assert not _copy_file(found.files["sub/b"], tmp_path / "copy" / "sub" / "b")
    assert not (tmp_path / "copy" / "sub" / "b").exists()


def test_a_channel_relinked_out_of_the_roots_fails_the_job(layout: tuple[Path, Path],
                                                          tmp_path: Path) -> None:
    root, outside = layout
    (root / "moved").symlink_to(outside)
    with pytest.raises(JobClientError, match="outside the directories"):
        copy_confined(HostPaths.of([root]), f"{root}/moved", tmp_path / "copy", None)
    with pytest.raises(JobClientError, match="does not exist"):
        copy_confined(HostPaths.of([root]), f"{root}/absent", tmp_path / "copy", None)


def test_up_passes_absolute_roots_on_and_empty_ones_are_none(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from emulator.cli.commands_service import serve_args

    monkeypatch.chdir(tmp_path)  # the background endpoint's working directory is another
    args = serve_args(None, None, "flush", True, 0.3, True, allow_paths=("data", "/srv/x"))
    assert args[args.index("--allow-path") + 1] == str(tmp_path / "data")
    assert "/srv/x" in args
    assert HostPaths.of(["", "/a", "/a/"]).roots == ("/a",)  # "DIR::DIR" allows no cwd


def test_a_file_channel_is_validated_as_written() -> None:
    request = {"TrainingJobName": "j", "RoleArn": "arn:aws:iam::123456789012:role/r",
               "AlgorithmSpecification": {"TrainingImage": "i", "TrainingInputMode": "File"},
               "OutputDataConfig": {"S3OutputPath": "s3://b/o"},
               "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1,
                                  "VolumeSizeInGB": 1},
               "StoppingCondition": {"MaxRuntimeInSeconds": 60},
               "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {
                   "S3DataType": "S3Prefix", "S3Uri": "file:///data"}}}]}
    validate_create(request, ())
    request["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] = "file:///a\nb"
    with pytest.raises(ValidationException, match="Value 'file:///a\nb' at 'inputDataConfig"):
        validate_create(request, ())

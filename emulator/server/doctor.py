"""`smemu doctor`: is everything smemu needs in order? Each check says in one line what is
wrong and how to fix it; all is well only when no check failed.

The checks: the Docker engine, smemu's images (built, and built from the files now in
images/), the endpoint, the S3 it keeps checkpoints on, the state directory, the inotify limits
the checkpoint watchers need, binding to loopback, and whether this shell's keys get past the
endpoint's signature check (`smemu serve --auth`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from emulator.auth.keys import AUTH_ENV, AUTH_FILE_ENV, client_keys
from emulator.runtime.health import EngineFacts, ImageFacts, engine_facts, image_facts
from emulator.server import daemon
from emulator.storage.s3 import S3Endpoint
from emulator.version import __version__

OK, FAIL, SKIP = "ok", "FAIL", "skip"
MIN_FREE_BYTES = 2 * 1024 ** 3
MAX_HOSTS_PER_JOB = 16  # the most hosts a job may have: each watches its checkpoint directory
MIN_WATCHES = 8192
BASE_IMAGE = "smemu-base:latest"
GENERATED = ("wheels", "dist")  # made in an image directory by the build (prepare steps)


@dataclass(frozen=True)
class Finding:
    check: str
    status: str  # OK, FAIL or SKIP
    message: str  # what is so, or what is wrong and how to fix it

    @property
    def line(self) -> str:
        return f"{self.status:<4}  {self.check:<10} {self.message}"


def images_dir() -> Path | None:
    """$SMEMU_IMAGES_DIR, else images/ of a source checkout (smemu's Dockerfiles), if any."""
    explicit = os.environ.get("SMEMU_IMAGES_DIR")
    candidate = Path(explicit) if explicit else Path(__file__).resolve().parents[2] / "images"
    return candidate if candidate.is_dir() else None


def context_sha(directory: Path) -> str:
    """What images/build.sh labels an image with: sha256 over `sha256sum` of its files, in
    byte order of their ./paths (generated wheels/ and dist/, and __pycache__, aside)."""
    paths = sorted(f"./{p.relative_to(directory).as_posix()}" for p in directory.rglob("*")
                   if p.is_file() and p.relative_to(directory).parts[0] not in GENERATED
                   and "__pycache__" not in p.parts)
    listing = "".join(f"{hashlib.sha256((directory / p[2:]).read_bytes()).hexdigest()}  {p}\n"
                      for p in paths)
    return hashlib.sha256(listing.encode()).hexdigest()


# -- the checks ---------------------------------------------------------------------------
def check_docker(facts: EngineFacts) -> Finding:
    if not facts.reachable:
        return Finding("docker", FAIL, f"no Docker engine answers ({facts.error}): start it "
                       "(`sudo dockerd &`, or `make docker` as root on Debian), or set "
                       "DOCKER_HOST")
    return Finding("docker", OK, f"Docker {facts.version} (API {facts.api_version}) at "
                   f"{facts.host}, storage driver {facts.storage_driver}")


def check_images(client: Any, directory: Path | None,
                 facts: Callable[[Any, str], ImageFacts] = image_facts) -> Finding:
    if client is None:
        return Finding("images", SKIP, "not checked: the Docker engine is not reachable")
    wanted: dict[str, Path | None] = {BASE_IMAGE: None}
    if directory is not None:
        for dockerfile in sorted(directory.glob("*/Dockerfile")):
            if dockerfile.parent.name != "base":
                wanted[f"smemu-{dockerfile.parent.name}:latest"] = dockerfile.parent
    missing, stale, unknown = [], [], []
    for tag, source in wanted.items():
        found = facts(client, tag)
        if not found.present:
            missing.append(tag)
        elif source is not None and found.context is None:
            unknown.append(tag)
        elif source is not None and found.context != context_sha(source):
            stale.append(tag)
    if missing:
        return Finding("images", FAIL, f"missing: {', '.join(missing)}: build them with "
                       "`make images` (images/build.sh)")
    if stale:
        return Finding("images", FAIL, f"stale (images/ changed since they were built): "
                       f"{', '.join(stale)}: rebuild with `make images`")
    note = f"; cannot tell whether these are stale: {', '.join(unknown)} (built without the " \
        "smemu.context label that `make images` gives them)" if unknown else ""
    return Finding("images", OK, f"{len(wanted)} built ({', '.join(wanted)}){note}")


def check_endpoint(url: str, health: dict[str, Any] | None) -> Finding:
    if health is None:
        port = urlparse(url).port
        return Finding("endpoint", FAIL, f"no smemu endpoint answers at {url}: start it with "
                       f"`smemu up{'' if port in (None, 4590) else f' --port {port}'}`")
    version = str(health.get("version"))
    if version != __version__:
        return Finding("endpoint", FAIL, f"the endpoint at {url} runs smemu {version}, this is "
                       f"{__version__}: restart it (`smemu down` then `smemu up`)")
    return Finding("endpoint", OK, f"smemu {version} at {url} (server {health.get('server_id')},"
                   f" S3 backend {health.get('s3_backend')})")


def check_s3(url: str, health: dict[str, Any] | None) -> Finding:
    if health is None:
        return Finding("s3", SKIP, "not checked: the endpoint is down")
    s3_url = str(health.get("s3_endpoint_url") or url)
    where = "the embedded S3" if s3_url == url else f"the S3 at {s3_url}"
    endpoint = S3Endpoint.of_endpoint(s3_url) if s3_url == url else S3Endpoint(s3_url)
    client = endpoint.client("s3", retries={"max_attempts": 2}, connect_timeout=5,
                             read_timeout=15)
    try:
        buckets = [b["Name"] for b in client.list_buckets().get("Buckets", [])]
        versioned = [b for b in buckets[:50] if client.get_bucket_versioning(Bucket=b)
                     .get("Status") == "Enabled"]
    except Exception as err:
        return Finding("s3", FAIL, f"{where} does not answer ({str(err)[:160]}): check the "
                       "server, or restart the endpoint with a reachable --s3-endpoint-url")
    unversioned = [b for b in buckets[:50] if b not in versioned]
    if s3_url != url and unversioned:
        return Finding("s3", FAIL, f"{where}: versioning is off on {', '.join(unversioned[:5])}"
                       ": turn it on (`aws s3api put-bucket-versioning --versioning-configuration"
                       " Status=Enabled`) to keep every checkpoint version")
    return Finding("s3", OK, f"{where} answers: {len(buckets)} bucket(s), versioning on for "
                   f"{len(versioned)} (the endpoint turns it on for checkpoint buckets)")


def check_auth(url: str, health: dict[str, Any] | None) -> Finding:
    if health is None:
        return Finding("auth", SKIP, "not checked: the endpoint is down")
    if not health.get("auth"):
        return Finding("auth", OK, "the endpoint checks no signatures (any credentials get "
                       "in; `smemu serve --auth` turns the check on)")
    keys = client_keys()
    client = S3Endpoint.of_endpoint(url).client("sagemaker", retries={"max_attempts": 1},
                                                connect_timeout=5, read_timeout=15)
    try:
        client.list_training_jobs(MaxResults=1)
    except Exception as err:
        return Finding("auth", FAIL, f"the endpoint checks signatures and refuses this shell's "
                       f"access key {keys.access_key} ({str(err)[:120]}): set ${AUTH_ENV} "
                       f"(or ${AUTH_FILE_ENV}) to the keys it was started with")
    return Finding("auth", OK, f"the endpoint checks signatures; this shell's access key "
                   f"{keys.access_key} gets in")


def check_state_dir(path: Path, min_free: int = MIN_FREE_BYTES) -> Finding:
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".doctor-"):
            pass
    except OSError as err:
        return Finding("state", FAIL, f"{path} is not writable ({err.strerror}): fix its "
                       "permissions or set SMEMU_STATE_DIR to a writable directory")
    free = shutil.disk_usage(path).free
    if free < min_free:
        return Finding("state", FAIL, f"{path}: only {free / 1024 ** 3:.1f} GiB free (jobs stage "
                       "data and checkpoints there): free some space or set SMEMU_STATE_DIR")
    return Finding("state", OK, f"{path} writable, {free / 1024 ** 3:.1f} GiB free")


def inotify_in_use(proc: Path = Path("/proc")) -> int:
    """inotify instances held by this user's processes (those whose fds it may read)."""
    count = 0
    for fd_dir in proc.glob("[0-9]*/fd"):
        try:
            count += sum(1 for fd in fd_dir.iterdir()
                         if os.readlink(fd) == "anon_inode:inotify")
        except OSError:
            continue
    return count


def check_inotify(limits: Path = Path("/proc/sys/fs/inotify"), in_use: int | None = None,
                  ) -> Finding:
    try:
        instances = int((limits / "max_user_instances").read_text())
        watches = int((limits / "max_user_watches").read_text())
    except (OSError, ValueError):
        return Finding("inotify", SKIP, f"no inotify limits at {limits} (not Linux?): the "
                       "checkpoint mirror falls back to polling")
    used = inotify_in_use() if in_use is None else in_use
    free = instances - used
    if free < MAX_HOSTS_PER_JOB:
        return Finding("inotify", FAIL, f"{used} of max_user_instances={instances} in use: a "
                       f"{MAX_HOSTS_PER_JOB}-host job needs {MAX_HOSTS_PER_JOB} more; raise it "
                       "(`sudo sysctl fs.inotify.max_user_instances=1024`)")
    if watches < MIN_WATCHES:
        return Finding("inotify", FAIL, f"max_user_watches={watches} is low for checkpoint "
                       "directories: raise it (`sudo sysctl fs.inotify.max_user_watches=524288`)")
    return Finding("inotify", OK, f"{used} of {instances} instances in use ({free} free: "
                   f"enough for a {MAX_HOSTS_PER_JOB}-host job), max_user_watches={watches}")


def check_loopback(url: str, health: dict[str, Any] | None) -> Finding:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
    except OSError as err:
        return Finding("loopback", FAIL, f"cannot bind 127.0.0.1 ({err.strerror}): bring the "
                       "loopback interface up (`sudo ip link set lo up`)")
    host = urlparse(url).hostname or ""
    if health is not None and host not in ("127.0.0.1", "localhost", "::1"):
        return Finding("loopback", FAIL, f"the endpoint is reached at {host}, not loopback: "
                       + ("anyone who has its keys can reach it"
                          if health.get("auth") else "it serves without authentication")
                       + ", bind it to 127.0.0.1")
    return Finding("loopback", OK, "127.0.0.1 can be bound" + (
        "; the endpoint listens on loopback" if health is not None else ""))


def run_checks(url: str | None = None) -> list[Finding]:
    """Every check, in order; `url` is the endpoint (default: the local one)."""
    target = (url or daemon.default_endpoint_url()).rstrip("/")
    engine, client = engine_facts()
    try:
        findings = [check_docker(engine), check_images(client, images_dir())]
    finally:
        if client is not None:
            client.close()
    health = daemon.health(target)
    findings += [check_endpoint(target, health), check_auth(target, health),
                 check_s3(target, health),
                 check_state_dir(daemon.state_dir()), check_inotify(),
                 check_loopback(target, health)]
    return findings


def as_json(findings: list[Finding]) -> dict[str, Any]:
    return {"ok": all(f.status != FAIL for f in findings),
            "checks": [asdict(f) for f in findings]}

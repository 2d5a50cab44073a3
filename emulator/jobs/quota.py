"""The endpoint's quota on training instances running at once, answered as SageMaker answers
an account over its quota.

SageMaker limits the instances across all of an account's running training jobs (a quota of
Service Quotas). Each instance here is a container on this machine, so the default comes from
the machine: `max(2, min(4 x CPUs, total memory in GiB))` (8 on 2 cores and 24 GiB), overridden
by the `max_instances` argument (`smemu serve --max-training-instances`) or
$SMEMU_MAX_TRAINING_INSTANCES. A single-instance job uses one: for most users the limit is the
number of jobs that can run at once.
"""

from __future__ import annotations

import os

from emulator.errors import EndpointUnavailable, ResourceLimitExceeded

ENV_MAX_INSTANCES = "SMEMU_MAX_TRAINING_INSTANCES"
# The quota's name in Service Quotas (AWS documents its default of 4 for new accounts in
# awsdocs/amazon-sagemaker-developer-guide#70). That this name appears in CreateTrainingJob's
# message is UNCONFIRMED; the same message about processing jobs names "Number of instances
# across all processing jobs" (data-science-on-aws/data-science-on-aws#200).
QUOTA_NAME = "Number of instances across all training jobs"
_GIB = 1024 ** 3


def machine_instance_limit(cpus: int | None = None, memory_bytes: int | None = None) -> int:
    """The default quota: 4 instances per CPU, at most one per GiB of memory, at least 2."""
    cpus = cpus if cpus is not None else (os.cpu_count() or 1)
    memory = memory_bytes if memory_bytes is not None else _total_memory()
    by_memory = memory // _GIB if memory else 4 * cpus  # unknown memory: CPUs decide
    return max(2, min(4 * cpus, by_memory))


def instance_limit(explicit: int | None = None) -> int:
    """The argument, else $SMEMU_MAX_TRAINING_INSTANCES, else the machine's default."""
    if explicit is not None:
        value, source = explicit, "max_training_instances"
    else:
        text = os.environ.get(ENV_MAX_INSTANCES, "").strip()
        if not text:
            return machine_instance_limit()
        try:
            value, source = int(text), f"{ENV_MAX_INSTANCES}={text!r}"
        except ValueError:
            raise EndpointUnavailable(
                f"{ENV_MAX_INSTANCES}={text!r} is not a whole number of instances") from None
    if value < 1:
        raise EndpointUnavailable(f"{source} must be at least 1 instance, not {value}")
    return value


def check_instance_quota(limit: int, in_use: int, requested: int) -> None:
    """ResourceLimitExceeded, in SageMaker's words, when `requested` more instances would take
    the running ones (`in_use`) over `limit`."""
    if in_use + requested > limit:
        raise ResourceLimitExceeded(quota_message(limit, in_use, requested))


def quota_message(limit: int, in_use: int, requested: int) -> str:
    # The sentence is the one AWS answers for its instance quotas (seen in many reports, e.g.
    # aws/amazon-sagemaker-examples#1543); newer accounts may be pointed to Service Quotas
    # instead of support (UNCONFIRMED).
    return (f"The account-level service limit '{QUOTA_NAME}' is {limit} Instances, with "
            f"current utilization of {in_use} Instances and a request delta of {requested} "
            "Instances. Please contact AWS support to request an increase for this limit.")


def _total_memory() -> int:
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # not on this platform
        return 0

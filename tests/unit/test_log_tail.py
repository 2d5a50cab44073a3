"""LogTail follows every stream of a job, however many hosts and attempts it has."""

from __future__ import annotations

import contextlib
import time

import boto3

from emulator.contract import LOG_GROUP
from emulator.storage.logs import LogTail
from tests.unit._s3server import MotoS3


def test_tail_reads_more_streams_than_one_describe_page(s3: MotoS3) -> None:
    # 16 hosts x 4 attempts = 64 streams: more than describe_log_streams returns at once (50).
    logs = boto3.client("logs", endpoint_url=s3.endpoint, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")
    # The moto backend is per process: another test module may have made the group already.
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_group(logGroupName=LOG_GROUP)
    names = [f"tailjob/algo-{h}-{1700000000 + a}" for a in range(4) for h in range(1, 17)]
    now = int(time.time() * 1000)
    for name in names:
        logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=name)
        logs.put_log_events(logGroupName=LOG_GROUP, logStreamName=name,
                            logEvents=[{"timestamp": now, "message": name}])
    seen: list[str] = []
    LogTail(logs, "tailjob").poll(lambda stream, message, at: seen.append(message))
    assert sorted(seen) == sorted(names)

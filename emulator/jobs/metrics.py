"""MetricDefinitions: every value a regex captures in the logs, as SageMaker handles them.

* FinalMetricDataList (DescribeTrainingJob): the last value of each metric.
* CloudWatch metrics: every value, namespace /aws/sagemaker/TrainingJobs, dimension
  TrainingJobName, timestamped with its log line, on the endpoint's own CloudWatch (moto). The
  SDK's `estimator.training_job_analytics` and `aws cloudwatch get-metric-statistics` read them.
"""

from __future__ import annotations

import datetime
import logging
import math
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any

from emulator.jobs.spec import MetricDefinition

log = logging.getLogger(__name__)

METRICS_NAMESPACE = "/aws/sagemaker/TrainingJobs"
METRICS_DIMENSION = "TrainingJobName"
_PUT_BATCH = 1000  # PutMetricData's limit of values per request


class MetricPublisher:
    """Puts metric values to CloudWatch in batches: a timer sends what gathered within
    `interval` of the first pending value (never the log pump itself), `flush()` the rest."""

    def __init__(self, client_factory: Callable[[], Any], job_name: str,
                 interval: float = 1.0) -> None:
        self._client_factory = client_factory
        self._client: Any = None
        self.job_name = job_name
        self.interval = interval
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()  # keeps batches in order
        self._timer: threading.Timer | None = None
        self._closed = False  # after the job's end: every value goes out at once
        self.errors: list[str] = []

    def add(self, name: str, value: float, at: float) -> None:
        with self._lock:
            self._pending.append({
                "MetricName": name,
                "Dimensions": [{"Name": METRICS_DIMENSION, "Value": self.job_name}],
                "Timestamp": datetime.datetime.fromtimestamp(at, datetime.timezone.utc),
                "Value": value,
            })
            now = self._closed
            if not now and self._timer is None:
                self._timer = threading.Timer(self.interval, self._on_timer)
                self._timer.daemon = True
                self._timer.name = f"metrics-{self.job_name}"
                self._timer.start()
        if now:
            self.flush()

    def _on_timer(self) -> None:
        with self._lock:
            self._timer = None
        self.flush()

    def flush(self, close: bool = False) -> None:
        with self._send_lock:
            with self._lock:
                self._closed = self._closed or close
                batch, self._pending = self._pending, []
            for start in range(0, len(batch), _PUT_BATCH):
                try:
                    if self._client is None:
                        self._client = self._client_factory()
                    self._client.put_metric_data(Namespace=METRICS_NAMESPACE,
                                                 MetricData=batch[start:start + _PUT_BATCH])
                except Exception as err:  # metrics are a mirror of the logs, never fatal
                    self.errors.append(str(err))
                    log.warning("metrics of %s not published: %s", self.job_name, err)
                    return


class MetricTracker:
    def __init__(self, definitions: Iterable[MetricDefinition],
                 publisher: MetricPublisher | None = None) -> None:
        self._patterns: list[tuple[str, re.Pattern[str]]] = []
        for definition in definitions:
            try:
                self._patterns.append((definition.name, re.compile(definition.regex)))
            except re.error:
                continue  # rejected at validation; never break a running job over it
        self._last: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()
        self.publisher = publisher

    @property
    def has_definitions(self) -> bool:
        return bool(self._patterns)

    def publish_to(self, publisher: MetricPublisher) -> None:
        """Send every value observed from now on to CloudWatch too."""
        self.publisher = publisher

    def observe(self, line: str, at: float) -> None:
        for name, pattern in self._patterns:
            match = pattern.search(line)
            if not match:
                continue
            try:
                value = float(match.group(1) if match.groups() else match.group(0))
            except (ValueError, IndexError, TypeError):  # TypeError: an unmatched group
                continue
            if not math.isfinite(value):
                continue  # CloudWatch refuses NaN and infinities, and JSON has no such numbers
            with self._lock:
                self._last[name] = (value, at)
            if self.publisher is not None:
                self.publisher.add(name, value, at)

    def final(self) -> list[dict[str, Any]]:
        if self.publisher is not None:
            self.publisher.flush(close=True)
        with self._lock:
            last = dict(self._last)
        names = dict.fromkeys(name for name, _ in self._patterns)  # the definitions' order
        return [{"MetricName": name, "Value": last[name][0], "Timestamp": last[name][1]}
                for name in names if name in last]

"""FinalMetricDataList: the last value each MetricDefinitions regex captured in the logs."""

from __future__ import annotations

import re
import threading
from typing import Any


class MetricTracker:
    def __init__(self, definitions: list[dict[str, str]] | None) -> None:
        self._patterns: list[tuple[str, re.Pattern[str]]] = []
        for definition in definitions or []:
            try:
                self._patterns.append((definition["Name"], re.compile(definition["Regex"])))
            except (KeyError, re.error):
                continue  # rejected at validation; never break a running job over it
        self._last: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def observe(self, line: str, at: float) -> None:
        for name, pattern in self._patterns:
            match = pattern.search(line)
            if not match:
                continue
            try:
                value = float(match.group(1) if match.groups() else match.group(0))
            except (ValueError, IndexError):
                continue
            with self._lock:
                self._last[name] = (value, at)

    def final(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {"MetricName": name, "Value": value, "Timestamp": at}
                for name, (value, at) in self._last.items()
            ]

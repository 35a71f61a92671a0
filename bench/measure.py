"""Result rows and the statistics in them."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

MB = 1024 * 1024

COLUMNS = ("scenario", "measure", "unit", "api_median", "api_p95", "direct_median", "direct_p95", "ratio",
           "couch_requests_per_api_request", "peak_rss_mb", "rss_growth_mb", "goal", "met", "notes")


def percentile(values: list[float], pct: float) -> float | None:
    """Linear interpolation between closest ranks; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * pct / 100
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: list[float]) -> float | None:
    return percentile(values, 50)


def mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def ms(seconds: list[float]) -> list[float]:
    return [value * 1000 for value in seconds]


@dataclass
class Row:
    """One line of the table. Latency rows: milliseconds, lower is better, ratio = API median / direct
    median. Throughput rows (MB/s, msg/s, req/s): higher is better, ratio = API / direct."""
    scenario: str
    measure: str
    unit: str
    api_median: float | None = None
    api_p95: float | None = None
    direct_median: float | None = None
    direct_p95: float | None = None
    couch_requests_per_api_request: float | None = None
    peak_rss_mb: float | None = None
    rss_growth_mb: float | None = None
    goal: str | None = None
    met: bool | None = None
    notes: str = ""
    # the API/direct the goal asks for (at most for latency rows, at least for throughput rows); charted
    goal_ratio: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.api_median is None or not self.direct_median:
            return None
        return self.api_median / self.direct_median

    @property
    def lower_is_better(self) -> bool:
        return self.unit == "ms"

    def ratio_within(self, goal: float) -> bool:
        """Record `goal` as this row's goal ratio; whether the ratio reaches it."""
        self.goal_ratio = goal
        if self.ratio is None:
            return False
        return self.ratio <= goal if self.lower_is_better else self.ratio >= goal

    def memory(self, found) -> "Row":
        """Record a harness.Memory (bytes) in MB."""
        self.peak_rss_mb = found.peak / MB
        self.rss_growth_mb = found.growth / MB
        return self

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["ratio"] = self.ratio
        return out


def kinds_mean(samples: list) -> dict[str, float]:
    """The CouchDB requests per API request by kind (harness.Sample.kinds), averaged over the samples."""
    total: dict[str, float] = {}
    for sample in samples:
        for name, count in sample.kinds.items():
            total[name] = total.get(name, 0) + count
    return {name: round(count / len(samples), 3) for name, count in sorted(total.items())} if samples else {}


def latency_row(scenario: str, measure: str, api_seconds: list[float], direct_seconds: list[float] | None,
                samples: list | None, **kw: Any) -> Row:
    """A latency row from timed API requests (harness.Sample) and the direct timings."""
    api, direct = ms(api_seconds), ms(direct_seconds or [])
    couch = [sample.couch_requests for sample in samples or []]
    row = Row(scenario, measure, "ms", median(api), percentile(api, 95), median(direct), percentile(direct, 95),
              mean(couch) if couch else None, **kw)
    row.extra.setdefault("samples", len(api))
    if couch:
        steady = [sample.steady_requests for sample in samples]
        row.extra.update(couch_requests_min=min(couch), couch_requests_max=max(couch),
                         steady_requests_min=min(steady), steady_requests_max=max(steady),
                         couch_requests_by_kind=kinds_mean(samples))
    return row

"""GPU readings and history from Prometheus' HTTP API (or Thanos, Mimir, VictoriaMetrics).

Only standard endpoints are used: /federate and /api/v1/query for the latest readings and
/api/v1/query_range for history.

Over plain http the dcgm families' latest samples are read through /federate, one match[] a
family (prometheus_federate.py): Prometheus answers each series' latest sample as exposition
text without evaluating PromQL, which is read by the exporters' dcgm fast path. A backend that
answers /federate with a 4xx or anything but exposition text (Thanos Querier serves none) is
read through instant queries from then on, with one log line. A cycle where /federate cannot
be read otherwise (5xx while Prometheus starts, no connection), or has no dcgm GPU, reads
instant queries and the next one asks /federate again.

Otherwise, and for the nvidia_smi families, the latest readings are one instant query per GPU
family, sent together, each answer read as it arrives. A dcgm family is asked for as
`max by (<the labels read>) (FAMILY)`: only the labels clusterdash reads come back (node, GPU,
MIG slice, identity, job; 1.9 MB a family at 1,024 nodes against 2.7 MB with every label);
series that differ only in labels clusterdash does not read (two scrape jobs of one exporter)
count once, at their highest value. Answers are read through SeriesReader
(prometheus_answer.py): a label set's meaning is worked out once and remembered, so a cycle's
work per series is a lookup and a float. Over plain http the queries go through the
exporters' keep-alive client (scrape_http.py); a Prometheus on this machine's loopback is asked
for uncompressed answers (compressing them there and decompressing them here costs both sides
CPU and saves no time).

Measured need, against a real Prometheus scraping the 1,024-node simulator on the same
2 loaded cores (tests/bench/test_bench_cycle_prometheus.py): reading every family's whole
answer with json.loads took 2.36 s of the collector's CPU a reading; the instant queries read
this way 0.31 s (0.13x, the same run), but Prometheus spent 2.4 s of its own CPU evaluating
them over 80,000 series. Through /federate it spends 0.75 s and the reading takes 1.6 s
against 3.0 s (prometheus_federate.py has the figures). A single query selecting every family
with `{__name__=~"..."}` is slower still: Prometheus evaluates it in one goroutine (11.9 s
against 3.7 s for the per-family queries, in an earlier run).

Which node a series belongs to comes from `node_label`:
- "auto" (default): dcgm-exporter's `Hostname`, else `hostname` (newer releases), else the
  host part of Prometheus' own `instance` label ("gpu-01:9400" -> "gpu-01");
- "instance": always the host part of `instance` (exporters in pods whose Hostname is a
  pod name);
- any other name: that label's value (e.g. a `node` label added by relabelling).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import math
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
from loguru import logger

from tui.actions import NODE_NAME_RE
from tui.model import Gpu
from tui.sources.base import HISTORY_METRICS, GpuReading, GpuSeries, SourceError
from tui.sources.exporters import (
    DCGM_FIELDS,
    NODE_LABELS,
    NVIDIA_SMI_FIELDS,
    _one_per_key,
    dcgm_value,
    describe_http_error,
    gpus_from_samples,
    host_of,
    node_from_labels,
)
from tui.sources.prometheus_answer import SeriesReader
from tui.sources.prometheus_federate import FederatedReader, federate_url
from tui.sources.prometheus_gpus import DCGM_LABELS, DcgmAssembly, DcgmSeries, dcgm_series
from tui.sources.promtext import ParseError, Sample
from tui.sources.scrape_http import BodyTooLarge, ScrapeClient, ScrapeError
from tui.text import one_line

DEFAULT_TIMEOUT_S = 10.0
# Prometheus refuses a range query that would return more than 11,000 points per series.
MAX_POINTS_PER_SERIES = 11_000
MIN_STEP_S = 1.0
LABEL_NAME_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
# A bigger answer is read through httpx, which has no cap (a 1,024-node family is 1.9 MB).
MAX_FAST_ANSWER_BYTES = 256 * 2**20

DCGM_FAMILIES = tuple(sorted(DCGM_FIELDS))
SMI_FAMILIES = (
    *sorted(NVIDIA_SMI_FIELDS),
    "nvidia_smi_gpu_info",
    "nvidia_smi_index",
    "nvidia_smi_xid_last_timestamp_seconds",
)
GPU_FAMILIES = (*DCGM_FAMILIES, *SMI_FAMILIES)


# History metric -> PromQL over dcgm families; {sel} is the node's label selector.
HISTORY_QUERIES: Mapping[str, str] = {
    "utilization_pct": "DCGM_FI_DEV_GPU_UTIL{sel}",
    "memory_used_mib": "DCGM_FI_DEV_FB_USED{sel}",
    "memory_pct": (
        "100 * DCGM_FI_DEV_FB_USED{sel} / (DCGM_FI_DEV_FB_USED{sel} + DCGM_FI_DEV_FB_FREE{sel})"
    ),
    "temperature_c": "DCGM_FI_DEV_GPU_TEMP{sel}",
    "power_w": "DCGM_FI_DEV_POWER_USAGE{sel}",
}


def promql_string(value: str) -> str:
    """A PromQL double-quoted string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def range_step_s(start: float, end: float, max_points: int) -> float:
    """A step giving at most min(max_points, 11000) points over [start, end], >= 1 s."""
    points = max(2, min(max_points, MAX_POINTS_PER_SERIES))
    raw = (end - start) / (points - 1)
    return max(MIN_STEP_S, math.ceil(raw * 1000) / 1000)


class PrometheusGpuSource:
    """GpuSource and GpuHistory backed by a Prometheus-compatible HTTP API."""

    name = "gpu"

    def __init__(
        self,
        base_url: str,
        *,
        node_label: str = "auto",
        timeout_s: float = DEFAULT_TIMEOUT_S,
        headers: Mapping[str, str] | None = None,
        client: httpx.AsyncClient | None = None,
        federate: bool = True,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.node_label = node_label
        self.timeout_s = timeout_s
        self._own_client = client is None
        request_headers = {**_encoding_for(self.base_url), **(headers or {})}
        self._client = client or httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s),
            headers=request_headers,
            follow_redirects=True,
            # Every family's query at once, each on a connection kept for the next cycle.
            limits=httpx.Limits(max_keepalive_connections=len(GPU_FAMILIES)),
        )
        # Instant queries over plain http go through the exporters' hand-written client:
        # reading a cycle's answers at 1,024 nodes (19 MB) took 33-58 ms of CPU with it
        # against 136-196 ms with httpx (the same run, 2 loaded cores).
        self._scrape = (
            ScrapeClient(
                max_body_bytes=MAX_FAST_ANSWER_BYTES,
                max_idle=len(GPU_FAMILIES),
                headers=request_headers,
            )
            if client is None and _plain_http(self.base_url)
            else None
        )
        self._series: SeriesReader[DcgmSeries] = SeriesReader(
            lambda labels: dcgm_series(labels, self.node_of)
        )
        # The dcgm families are read through /federate until it fails once (a backend
        # without it, such as Thanos Querier); then through instant queries.
        self._federated = (
            FederatedReader(self.node_of) if federate and self._scrape is not None else None
        )

    @property
    def label_sets_known(self) -> int:
        """Label sets of dcgm series whose meaning is remembered from earlier answers."""
        if self._federated is not None:
            return self._federated.label_sets_known
        return len(self._series)

    @property
    def reads_federate(self) -> bool:
        """Whether the dcgm families are read through /federate (not instant queries)."""
        return self._federated is not None

    def node_of(self, labels: Mapping[str, str]) -> str:
        if self.node_label == "auto":
            return node_from_labels(labels)
        if self.node_label == "instance":
            return host_of(labels.get("instance", ""))
        return labels.get(self.node_label, "")

    async def fetch(self) -> GpuReading:
        node_labels = self._node_labels()
        federated = await self._read_federated() if self._federated is not None else None
        if not federated:
            federated = None  # no dcgm GPU there: the instant queries may still find some
        families = GPU_FAMILIES if federated is None else SMI_FAMILIES
        self._series.new_cycle()
        answers = await asyncio.gather(
            *(self._read_family(family, node_labels) for family in families),
            return_exceptions=True,
        )
        for answer in answers:
            if isinstance(answer, BaseException):
                raise answer
        dcgm = DcgmAssembly()
        smi_samples: list[Sample] = []
        for family, answer in zip(families, answers, strict=True):
            if isinstance(answer, list):
                smi_samples.extend(answer)
            else:
                dcgm.add(DCGM_FIELDS[family], *answer)
        smi = gpus_from_samples(smi_samples, node_of=self.node_of) if smi_samples else []
        dcgm_gpus = dcgm.gpus() if federated is None else federated
        gpus = [g for g in _one_per_key(dcgm_gpus + smi) if g.node]
        return GpuReading(gpus=tuple(gpus))

    async def _read_federated(self) -> list[Gpu] | None:
        """The dcgm GPUs from /federate; None when it cannot be read this cycle, and from
        then on (with one log line) when it answers 4xx or anything but exposition text."""
        assert self._scrape is not None and self._federated is not None
        scrape = self._scrape
        try:
            async with asyncio.timeout(self.timeout_s):
                answers = await asyncio.gather(
                    *(scrape.get(federate_url(self.base_url, f)) for f in DCGM_FAMILIES),
                    return_exceptions=True,
                )
            pages = []
            for answer in answers:
                if isinstance(answer, BaseException):
                    raise answer
                pages.append(answer.text())
            return self._federated.gpus(pages)
        except TimeoutError:
            raise self._timed_out() from None
        except (ScrapeError, BodyTooLarge) as error:
            if not str(error).startswith("HTTP 4"):
                return None  # down, starting (503) or a lost connection: this cycle only
            self._give_up_federate(error)
            return None
        except ParseError as error:
            self._give_up_federate(error)
            return None

    def _timed_out(self) -> SourceError:
        return SourceError(f"Prometheus at {self.base_url}: timeout after {self.timeout_s:g}s")

    def _give_up_federate(self, error: Exception) -> None:
        logger.info(
            "Prometheus at {}: /federate unavailable ({}); reading instant queries",
            self.base_url,
            one_line(str(error), 120),
        )
        self._federated = None

    async def _read_family(
        self, family: str, node_labels: tuple[str, ...]
    ) -> tuple[list[DcgmSeries], list[float]] | list[Sample]:
        """A dcgm family's series and values, or another family's samples."""
        if family not in DCGM_FIELDS:
            data = self._data(await self._instant(family))
            return [
                Sample(family, labels, value)
                for labels, value in _vector_samples(data)
                if value is not None
            ]
        labels = ",".join((*node_labels, *DCGM_LABELS))
        answer = await self._instant(f"max by ({labels}) ({family})")
        if isinstance(answer, bytes) or answer.status_code == 200:
            read = self._series.read(answer if isinstance(answer, bytes) else answer.content)
            if read is not None:
                return read
        series: list[DcgmSeries] = []
        values: list[float] = []
        for labels_read, value in _vector_samples(self._data(answer)):
            if value is not None:
                series.append(dcgm_series(labels_read, self.node_of))
                values.append(value)
        return series, values

    def _node_labels(self) -> tuple[str, ...]:
        """The labels that may name a series' node (see the module docstring)."""
        if self.node_label == "auto":
            return (*NODE_LABELS, "instance")
        if self.node_label == "instance":
            return ("instance",)
        if not LABEL_NAME_RE.fullmatch(self.node_label):
            raise SourceError(f"invalid node label name {self.node_label!r}")
        return (self.node_label,)

    async def gpu_history(
        self, node: str, metric: str, start: float, end: float, max_points: int
    ) -> GpuSeries:
        """Per-GPU series of `metric` (a Gpu field name) on `node`, oldest first."""
        if metric not in HISTORY_QUERIES:
            raise SourceError(f"no history for {metric!r}; one of {', '.join(HISTORY_METRICS)}")
        if not NODE_NAME_RE.match(node):
            raise SourceError(f"invalid node name {node!r}")
        if end <= start or max_points < 1:
            return {}
        query = " or ".join(
            HISTORY_QUERIES[metric].replace("{sel}", selector)
            for selector in self._node_selectors(node)
        )
        step = range_step_s(start, end, max_points)
        data = await self._api(
            "query_range", {"query": query, "start": start, "end": end, "step": step}
        )
        series: dict[int, list[tuple[float, float]]] = {}
        for item in _result(data, "matrix"):
            gpu = item.get("metric", {}).get("gpu", "")
            if not gpu.isdigit():
                continue
            points = series.setdefault(int(gpu), [])
            for pair in item.get("values", []):
                value = _sample_value(pair)
                reading = None if value is None else dcgm_value(value)
                if reading is not None:
                    points.append((float(pair[0]), reading))
        for points in series.values():
            points.sort()
            del points[: max(0, len(points) - max_points)]
        return series

    def _node_selectors(self, node: str) -> list[str]:
        if self.node_label == "auto":
            labels = [f"{label}={promql_string(node)}" for label in NODE_LABELS]
            return ["{" + s + "}" for s in [*labels, self._instance_matcher(node)]]
        if self.node_label == "instance":
            return ["{" + self._instance_matcher(node) + "}"]
        (label,) = self._node_labels()
        return ["{" + f"{label}={promql_string(node)}" + "}"]

    @staticmethod
    def _instance_matcher(node: str) -> str:
        return f"instance=~{promql_string(re.escape(node) + '(:[0-9]+)?')}"

    async def _api(self, endpoint: str, params: Mapping[str, Any]) -> Any:
        return self._data(await self._post(endpoint, params))

    async def _instant(self, query: str) -> bytes | httpx.Response:
        """A successful instant query's body through the hand-written client, or httpx's
        response (https, a client given, or any answer but a successful one)."""
        if self._scrape is not None:
            url = f"{self.base_url}/api/v1/query?{urlencode({'query': query})}"
            try:
                async with asyncio.timeout(self.timeout_s):
                    return (await self._scrape.get(url)).body
            except TimeoutError:
                raise self._timed_out() from None
            except (ScrapeError, BodyTooLarge):
                pass  # an error answer, a redirect, no connection: httpx words it
        return await self._post("query", {"query": query})

    async def _post(self, endpoint: str, params: Mapping[str, Any]) -> httpx.Response:
        url = f"{self.base_url}/api/v1/{endpoint}"
        try:
            return await self._client.post(url, data=dict(params))
        except httpx.HTTPError as error:
            raise SourceError(
                f"Prometheus at {self.base_url}: {describe_http_error(error, self.timeout_s)}"
            ) from None

    def _data(self, answer: bytes | httpx.Response) -> Any:
        """The answer's `data` (a successful answer's body, or a response); SourceError with
        one readable line for any other answer."""
        content = answer if isinstance(answer, bytes) else answer.content
        try:
            body = json.loads(content)
        except ValueError:
            body = None
        if isinstance(body, dict) and body.get("status") == "error":
            kind = body.get("errorType", "error")
            raise SourceError(f"Prometheus {kind}: {one_line(str(body.get('error', '')))}")
        if isinstance(answer, httpx.Response) and answer.is_error:
            reason = f"HTTP {answer.status_code} {answer.reason_phrase}".rstrip()
            raise SourceError(f"Prometheus at {self.base_url}: {reason}")
        if not isinstance(body, dict) or body.get("status") != "success":
            text = content.decode("utf-8", errors="replace")
            excerpt = one_line(text, 80) or "empty body"
            raise SourceError(f"Prometheus at {self.base_url} did not answer JSON: {excerpt}")
        return body.get("data")

    async def aclose(self) -> None:
        if self._scrape is not None:
            await self._scrape.aclose()
        if self._own_client:
            await self._client.aclose()


def _result(data: Any, kind: str) -> list[dict[str, Any]]:
    if not isinstance(data, dict) or data.get("resultType") != kind:
        got = data.get("resultType") if isinstance(data, dict) else type(data).__name__
        raise SourceError(f"Prometheus answered {got!r} where a {kind} was expected")
    result = data.get("result")
    return [item for item in result if isinstance(item, dict)] if isinstance(result, list) else []


def _vector_samples(data: Any) -> list[tuple[dict[str, str], float | None]]:
    """(labels, value) of each series of a decoded instant vector."""
    samples = []
    for series in _result(data, "vector"):
        labels = series.get("metric")
        if isinstance(labels, dict):
            samples.append((labels, _sample_value(series.get("value"))))
    return samples


def _plain_http(base_url: str) -> bool:
    """http without credentials in the URL (httpx sends those as basic authentication)."""
    parts = urlsplit(base_url)
    return parts.scheme == "http" and parts.username is None


def _encoding_for(base_url: str) -> dict[str, str]:
    """Ask a Prometheus on this machine's loopback for uncompressed answers."""
    host = urlsplit(base_url).hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    return {"Accept-Encoding": "identity"} if loopback else {}


def _sample_value(pair: Any) -> float | None:
    """[timestamp, "value"] -> value; Prometheus writes NaN/+Inf/-Inf as strings too."""
    try:
        return float(pair[1])
    except (TypeError, ValueError, IndexError):
        return None

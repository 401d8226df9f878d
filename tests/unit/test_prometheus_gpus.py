"""Instant-query answers read from their text (SeriesReader) and assembled into GPUs
(DcgmAssembly) give what json.loads and gpus_from_samples give for the same answers."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tui.sources.exporters import DCGM_FIELDS, FALLEN_OFF_BUS, gpus_from_samples
from tui.sources.prometheus_answer import SeriesReader
from tui.sources.prometheus_gpus import DcgmAssembly, DcgmSeries, dcgm_series
from tui.sources.promtext import Sample

FAMILIES = sorted(DCGM_FIELDS)


def answer(series: list[tuple[dict[str, str], float]], *, compact: bool = True) -> bytes:
    """An instant vector as Prometheus writes it (compact), or json.dumps' spaced layout."""
    result = [
        {"metric": labels, "value": [1700000000.123, _number_text(value)]}
        for labels, value in series
    ]
    separators = (",", ":") if compact else None
    data = {"resultType": "vector", "result": result}
    return json.dumps({"status": "success", "data": data}, separators=separators).encode()


def _number_text(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


def reader() -> SeriesReader[DcgmSeries]:
    return SeriesReader(lambda labels: dcgm_series(labels, _node_of))


def _node_of(labels: Any) -> str:
    return labels.get("Hostname") or labels.get("instance", "").rsplit(":", 1)[0]


def assembled(
    source: SeriesReader[DcgmSeries], answers: dict[str, list[tuple[dict[str, str], float]]]
) -> list[Any]:
    source.new_cycle()
    assembly = DcgmAssembly()
    for family in FAMILIES:
        read = source.read(answer(answers.get(family, [])))
        assert read is not None, "Prometheus' own layout is read from the text"
        assembly.add(DCGM_FIELDS[family], *read)
    return sorted(assembly.gpus(), key=lambda gpu: gpu.key)


def expected(answers: dict[str, list[tuple[dict[str, str], float]]]) -> list[Any]:
    samples = [
        Sample(family, labels, value)
        for family in FAMILIES
        for labels, value in answers.get(family, [])
    ]
    return [gpu for gpu in gpus_from_samples(samples, node_of=_node_of) if gpu.node]


label_sets = st.fixed_dictionaries(
    {"gpu": st.sampled_from(["0", "1", "2", "01", "x"])},
    optional={
        "Hostname": st.sampled_from(["gpu-01", "gpu-02", ""]),
        "instance": st.sampled_from(["gpu-03:9400", "10.0.0.4:9400"]),
        "UUID": st.sampled_from(["GPU-a", "GPU-b", ""]),
        "modelName": st.sampled_from(["NVIDIA H100 80GB HBM3", ""]),
        "pci_bus_id": st.sampled_from(["00000000:18:00.0", ""]),
        "hpc_job": st.sampled_from(["41", "42", ""]),
        "GPU_I_ID": st.sampled_from(["1", "2"]),
        "GPU_I_PROFILE": st.sampled_from(["1g.10gb", "3g.40gb"]),
        "health_error_code": st.sampled_from([FALLEN_OFF_BUS, "DCGM_FR_OK"]),
        "note": st.text(max_size=6),
    },
)
values = st.one_of(
    st.floats(min_value=-5, max_value=1e6),
    st.sampled_from([math.nan, math.inf, -math.inf, 9223372036854775794.0, 1.40737488355328e14]),
)
family_answers = st.dictionaries(
    st.sampled_from(FAMILIES),
    # One series per label set, as an aggregation answers.
    st.dictionaries(
        label_sets.map(lambda labels: json.dumps(labels, sort_keys=True)), values, max_size=8
    ).map(lambda by_text: [(json.loads(text), value) for text, value in by_text.items()]),
    max_size=6,
)


@settings(max_examples=150, deadline=None)
@given(first=family_answers, second=family_answers)
def test_reading_from_the_text_gives_what_decoding_gives(
    first: dict[str, list[tuple[dict[str, str], float]]],
    second: dict[str, list[tuple[dict[str, str], float]]],
) -> None:
    source = reader()
    assert assembled(source, first) == expected(first)
    # The next cycle: label sets remembered from the first, new ones, others gone.
    assert assembled(source, second) == expected(second)
    assert assembled(source, first) == expected(first)


def test_another_layout_is_left_to_json_decoding() -> None:
    labels = {"Hostname": "gpu-01", "gpu": "0"}
    source = reader()
    assert source.read(answer([(labels, 1.0)], compact=False)) is None
    with_warnings = answer([(labels, 1.0)])[:-1] + b',"warnings":["partial"]}'
    assert source.read(with_warnings) is None
    value_first = (
        b'{"status":"success","data":{"resultType":"vector","result":[{"value":[1,"2"],'
        b'"metric":{"gpu":"0"}},{"value":[1,"3"],"metric":{"gpu":"1"}}]}}'
    )
    assert source.read(value_first) is None
    error = b'{"status":"error","errorType":"bad_data","error":"parse error"}'
    assert source.read(error) is None
    assert source.read(answer([])) == ([], [])


def test_a_label_value_quoting_the_value_layout_is_one_label() -> None:
    tricky = {"Hostname": "gpu-01", "gpu": "0", "note": '"value":[1,"2"]},{"metric":{'}
    source = reader()
    read = source.read(answer([(tricky, 7.0), ({"Hostname": "gpu-02", "gpu": "1"}, 8.0)]))
    assert read is not None
    series, numbers = read
    assert [s.key for s in series] == [("gpu-01", 0), ("gpu-02", 1)]
    assert numbers == [7.0, 8.0]


def test_label_sets_gone_for_good_are_forgotten() -> None:
    source = reader()
    for cycle in range(4):
        source.new_cycle()
        assert len(source) <= 2 * 2000 + 1024
        many = [({"Hostname": f"n{cycle}-{i}", "gpu": "0"}, 1.0) for i in range(2000)]
        assert source.read(answer(many)) is not None

"""The exposition parser: format corners, round trips, agreement with prometheus_client."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from tui.sources.promtext import (
    ParseError,
    Sample,
    parse_samples,
    parse_samples_async,
    render,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "exposition"


def test_escaped_label_values_nan_inf_exponents_and_timestamps() -> None:
    text = (
        "# HELP weird A help line with \\\\ and \\n escapes\n"
        "# TYPE weird gauge\n"
        'weird{path="C:\\\\dir",quote="say \\"hi\\"",multi="a\\nb",brace="}{,="}'
        " 1.5e3 1700000000000\n"
        "no_labels NaN\n"
        "plus_inf +Inf\n"
        "minus_inf -Inf 42\n"
        "exponent 6.02E-23\n"
    )
    samples = parse_samples(text)
    assert [s.name for s in samples] == ["weird", "no_labels", "plus_inf", "minus_inf", "exponent"]
    assert dict(samples[0].labels) == {
        "path": "C:\\dir",
        "quote": 'say "hi"',
        "multi": "a\nb",
        "brace": "}{,=",
    }
    assert samples[0].value == 1500.0
    assert samples[0].timestamp_ms == 1700000000000
    assert math.isnan(samples[1].value)
    assert samples[2].value == math.inf
    assert samples[3].value == -math.inf and samples[3].timestamp_ms == 42
    assert samples[4].value == pytest.approx(6.02e-23)


def test_whitespace_variants_blank_lines_and_missing_type_lines() -> None:
    text = (
        "\n\n"
        "   # indented comment\n"
        "  indented 1\n"
        "tabbed\t2\t3\n"
        'spaced { a = "x" , b="y", } 4   \r\n'
        "\n"
    )
    samples = parse_samples(text)
    assert [(s.name, dict(s.labels), s.value, s.timestamp_ms) for s in samples] == [
        ("indented", {}, 1.0, None),
        ("tabbed", {}, 2.0, 3.0),
        ("spaced", {"a": "x", "b": "y"}, 4.0, None),
    ]


def test_openmetrics_eof_ends_the_payload_and_exemplars_are_ignored() -> None:
    text = (
        "# TYPE requests counter\n"
        'requests_total{code="200"} 10 # {trace_id="abc"} 1.0 1.5\n'
        "# EOF\n"
        "this is not read\n"
    )
    samples = parse_samples(text)
    assert samples == [Sample("requests_total", {"code": "200"}, 10.0, None)]


def test_labels_are_shared_and_read_only() -> None:
    samples = parse_samples('a{gpu="0"} 1\nb{gpu="0"} 2\n')
    assert samples[0].labels is samples[1].labels
    with pytest.raises(TypeError):
        samples[0].labels["gpu"] = "1"  # type: ignore[index]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<!DOCTYPE html>\n<html><body>Login</body></html>\n", "line 1: invalid metric name"),
        ('ok 1\nbroken{gpu="0" 5\n', "line 2: expected ',' between labels"),
        ('ok 1\n\nunterminated{gpu="0\n', "line 3: label block not closed"),
        ("metric one\n", "line 1: value is not a number"),
        ("metric 1 2 3\n", "line 1: expected 'value [timestamp]'"),
        ('m{a="1",a="2"} 1\n', "line 1: duplicate label 'a'"),
        ("m{a=unquoted} 1\n", "line 1: malformed labels"),
        ('m{a="1"}\n', "line 1: missing value"),
    ],
)
def test_garbage_gets_one_line_error_with_line_number(text: str, expected: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_samples(text)
    message = str(caught.value)
    assert message.startswith(expected)
    assert "\n" not in message


def test_error_excerpt_is_truncated() -> None:
    with pytest.raises(ParseError) as caught:
        parse_samples("x" * 500 + " not-a-number\n")
    assert len(str(caught.value)) < 120


# --- round trip: render random families, parse them back identically ---------------------

NAME_START = "abcxyzABCXYZ_:"
NAME_REST = NAME_START + "0129"
metric_names = st.builds(
    lambda first, rest: first + rest,
    st.sampled_from(NAME_START),
    st.text(alphabet=NAME_REST, max_size=12),
)
label_names = st.builds(
    lambda first, rest: first + rest,
    st.sampled_from(NAME_START.replace(":", "")),
    st.text(alphabet=NAME_REST.replace(":", ""), max_size=8),
)
label_values = st.text(
    alphabet=st.one_of(
        st.sampled_from(['"', "\\", "\n", "{", "}", ",", "=", " ", "#", "é", "✓", "😀"]),
        st.characters(blacklist_categories=("Cs",)),
    ),
    max_size=20,
)
values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**53), max_value=2**53).map(float),
    st.sampled_from([9223372036854775794.0, 1.40737488355328e14, 6.02e23, -1e-300]),
)
timestamps = st.one_of(st.none(), st.integers(min_value=0, max_value=2**50).map(float))
samples_strategy = st.lists(
    st.builds(
        Sample,
        name=metric_names,
        labels=st.dictionaries(label_names, label_values, max_size=6),
        value=values,
        timestamp_ms=timestamps,
    ),
    max_size=25,
)


def _comparable(samples: list[Sample]) -> list[tuple[object, ...]]:
    return [
        (s.name, dict(s.labels), "nan" if math.isnan(s.value) else s.value, s.timestamp_ms)
        for s in samples
    ]


@settings(max_examples=150, deadline=None)
@given(samples=samples_strategy)
def test_rendered_samples_parse_back_identically(samples: list[Sample]) -> None:
    text = render(samples, help_text={s.name: "help \\ text" for s in samples})
    assert _comparable(parse_samples(text)) == _comparable(samples)


@settings(max_examples=50, deadline=None)
@given(samples=samples_strategy, chunk=st.integers(min_value=1, max_value=200))
def test_async_parse_in_chunks_matches_whole_parse(samples: list[Sample], chunk: int) -> None:
    text = render(samples)
    chunked = asyncio.run(parse_samples_async(text, chunk_chars=chunk))
    assert _comparable(chunked) == _comparable(parse_samples(text))


async def test_async_parse_reports_the_true_line_number_across_chunks() -> None:
    text = "".join(f"ok_{i} {i}\n" for i in range(500)) + "bad value\n"
    with pytest.raises(ParseError, match=r"^line 501: "):
        await parse_samples_async(text, chunk_chars=100)


# --- real-world payloads, checked against the reference parser ---------------------------


def _reference(text: str) -> list[tuple[object, ...]]:
    result = []
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            value = "nan" if math.isnan(s.value) else float(s.value)
            result.append((s.name.removesuffix("_total"), dict(s.labels), value))
    return result


@pytest.mark.parametrize("fixture", sorted(p.name for p in FIXTURES.glob("*.prom")))
def test_real_world_payloads_match_prometheus_client(fixture: str) -> None:
    text = (FIXTURES / fixture).read_text()
    # prometheus_client renames counter samples to NAME_total; compare without the suffix.
    ours = [
        (str(n).removesuffix("_total"), labels, v)
        for n, labels, v, _ in _comparable(parse_samples(text))
    ]
    assert ours == _reference(text)
    assert len(ours) > 5

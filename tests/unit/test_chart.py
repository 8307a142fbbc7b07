"""The SVG line chart: well-formed XML for any non-negative series, labelled for screen readers,
its text escaped."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

from hypothesis import example, given
from hypothesis import strategies as st

from maskline.domain.chart import HEIGHT, WIDTH, Line, line_chart

SVG = "{http://www.w3.org/2000/svg}"
DAY = 86400
START = 1_767_225_600

points = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=2**40),
        st.floats(min_value=0, allow_nan=False) | st.integers(min_value=0, max_value=10**12),
    ),
    max_size=60,
)


def parsed(svg: str) -> ET.Element:
    return ET.fromstring(svg)


@given(points, points, st.text(), st.text(), st.text(), st.text())
@example([], [(0, math.inf)], "", "", "", "")  # a series of nothing finite draws no line
def test_any_non_negative_series_makes_a_well_formed_labelled_chart(
    live: list[tuple[int, float]],
    delta: list[tuple[int, float]],
    chart_id: str,
    title: str,
    desc: str,
    label: str,
) -> None:
    svg = parsed(line_chart(chart_id, title, desc, [Line(label, live), Line("Δ", delta)]))
    assert svg.tag == f"{SVG}svg" and svg.get("role") == "img"
    assert svg.get("viewBox") == f"0 0 {WIDTH} {HEIGHT}"
    title_id, desc_id = (svg.get("aria-labelledby") or "").split()
    assert svg.find(f"{SVG}title").get("id") == title_id  # type: ignore[union-attr]
    assert svg.find(f"{SVG}desc").get("id") == desc_id  # type: ignore[union-attr]
    drawn = svg.findall(f"{SVG}polyline")
    drawable = [series for series in (live, delta) if any(math.isfinite(v) for _, v in series)]
    assert len(drawn) == len(drawable)  # values that are not finite are left out
    for line in drawn:
        for pair in (line.get("points") or "").split():
            x, y = map(float, pair.split(","))
            assert 0 <= x <= WIDTH and 0 <= y <= HEIGHT


def test_an_empty_chart_says_there_is_no_data() -> None:
    svg = parsed(line_chart("pool", "Live sessions", "Nothing yet", [Line("live", []), Line("Δ", [])]))
    assert svg.findall(f"{SVG}polyline") == []
    assert "No data" in [t.text for t in svg.iter(f"{SVG}text")]


def test_text_is_escaped_and_ids_are_safe() -> None:
    hostile = '</title><script>alert("x")</script>&'
    svg = line_chart('a" onload="x', hostile, hostile + "\x00", [Line(hostile, [(START, 1)])])
    tree = parsed(svg)
    assert tree.find(f"{SVG}title").text == hostile  # type: ignore[union-attr]
    assert tree.find(f"{SVG}desc").text == hostile  # type: ignore[union-attr]  # NUL dropped
    assert tree.find(f"{SVG}script") is None and "onload" not in tree.attrib
    assert tree.get("aria-labelledby") == "aonloadx-title aonloadx-desc"


def test_two_lines_over_a_week_with_round_ticks_and_dates() -> None:
    live = [(START + h * 3600, float(h % 24)) for h in range(7 * 24)]
    delta = [(t, v / 4) for t, v in live]
    tree = parsed(line_chart("p1", "Pool", "A week", [Line("live sessions", live), Line("Δ", delta)]))
    texts = [t.text for t in tree.iter(f"{SVG}text")]
    assert texts[:5] == ["0", "10", "20", "30", "01 Jan"]  # the top, 23, rounded up to a round tick
    assert "01 Jan" in texts and "live sessions" in texts and "Δ" in texts
    lines = tree.findall(f"{SVG}polyline")
    assert [len((line.get("points") or "").split()) for line in lines] == [168, 168]
    assert lines[0].get("stroke-dasharray") is None and lines[1].get("stroke-dasharray")  # not colour alone

"""The dashboard's SVG charts: accessible names, scale, and gaps for missing data."""

import re

from consentmgr.admin.charts import (
    PLOT_H,
    Series,
    count_ticks,
    legend,
    nice_max,
    rate_lines,
    stacked_bars,
)


def test_nice_max_rounds_up_to_1_2_5():
    assert [nice_max(v) for v in (0, 3, 10, 11, 180, 999)] == [1, 5, 10, 20, 200, 1000]


def test_stacked_bars_are_labelled_and_to_scale():
    series = [Series("A", [2, 0, 6], "#1a7f37"), Series("B <x>", [2, 5, 0], "#b4232c")]
    svg = str(stacked_bars("c1", "Title & more", "Desc", ["2026-01-01", "2026-01-02", "x"], series))
    assert re.match(r'<svg [^>]*role="img" aria-labelledby="c1-title c1-desc"', svg)
    assert '<title id="c1-title">Title &amp; more</title><desc id="c1-desc">Desc</desc>' in svg
    heights = [
        float(h) for h in re.findall(r'<rect [^>]*height="([\d.]+)"[^>]*class="segment"', svg)
    ]
    # Totals 4, 5 and 6: gridlines 0, 2, 4, 6, so a bar of 6 reaches the top line.
    assert ticks(svg) == ["0", "2", "4", "6"]
    assert heights == [round(PLOT_H * v / 6, 1) for v in (2, 2, 5, 6)], "one per non-zero value"
    assert "<x>" not in svg


def test_rate_lines_break_where_there_is_no_data():
    svg = str(
        rate_lines(
            "c2", "t", "d", list("abcde"), [Series("s", [0.5, 0.6, None, 0.2, 0.3], "#0969da")]
        )
    )
    assert svg.count("<polyline") == 2
    assert svg.count("<circle") == 4


def test_legend_is_text_with_hidden_swatches():
    html = str(legend([Series("accept", [1], "#1a7f37")]))
    assert 'aria-hidden="true"' in html and html.endswith("accept</li></ul>")


def ticks(svg: str) -> list[str]:
    return re.findall(r'<text [^>]*class="tick">([^<]*)</text>', svg)


def test_count_gridlines_are_whole_numbers_and_rates_quarters():
    assert count_ticks(0) == [0, 1]
    assert count_ticks(1) == [0, 1]
    assert count_ticks(3) == [0, 1, 2, 3]
    assert count_ticks(50) == [0, 20, 40, 60]
    assert count_ticks(180) == [0, 50, 100, 150, 200]
    for top in (1, 2, 3, 7, 13, 37, 50, 99, 101, 999, 12345):
        values = count_ticks(top)
        assert all(isinstance(v, int) for v in values) and values[-1] >= top
        assert 2 <= len(values) <= 6
    one = str(stacked_bars("c", "t", "d", ["a"], [Series("s", [1], "#000")]))
    assert ticks(one) == ["0", "1"], "no 0.2, 0.5 or 0.8 decisions"
    fifty = str(stacked_bars("c", "t", "d", ["a"], [Series("s", [50], "#000")]))
    assert ticks(fifty) == ["0", "20", "40", "60"], "no 12.5 or 37.5 decisions"
    rates = str(rate_lines("c", "t", "d", ["a"], [Series("s", [0.3], "#000")]))
    assert ticks(rates) == ["0 %", "25 %", "50 %", "75 %", "100 %"]

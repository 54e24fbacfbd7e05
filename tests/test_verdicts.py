"""Verdict records and their file."""

from __future__ import annotations

import json

import pytest

from unlearnlab.probes.stats import Rate
from unlearnlab.report.format import md_table, pct, points, short, with_n
from unlearnlab.report.summary import summary_section
from unlearnlab.report.verdicts import Verdict, read_verdicts, too_few, write_verdicts


def test_verdicts_round_trip_through_json(tmp_path):
    records = [
        Verdict("sanity", "idk", "idk refuses on 85% of forget queries.", 0.85, (0.7, 0.93),
                40, 0.8, True),
        Verdict("durability", "npo", "npo: not forgotten.", float("nan"), None, 4, 0.1, None),
    ]
    path = tmp_path / "verdicts.json"
    write_verdicts(path, records)
    data = json.loads(path.read_text())
    assert data[0]["ci"] == [0.7, 0.93] and data[0]["holds"] is True
    assert data[1]["value"] is None and data[1]["holds"] is None
    assert data[0]["half_width"] == pytest.approx((0.93 - 0.7) / 2)
    assert data[1]["half_width"] is None
    assert read_verdicts(path)[0] == records[0]
    assert records[0].half_width == (0.93 - 0.7) / 2


def test_too_few_items_is_below_the_minimum():
    assert too_few(7) and not too_few(8)
    assert too_few(19, minimum=20)


def test_formatting():
    assert md_table(["a", "b"], [["1", "2"]]) == "| a | b |\n|---|---|\n| 1 | 2 |"
    assert pct(0.425) == "42%" and pct(0.425, 1) == "42.5%" and pct(None) == "n/a"
    assert pct(float("nan")) == "n/a"
    assert points(-0.12) == "-12 pts"
    rate = Rate(0.5, 0.25, 0.75, 20)
    assert short(rate) == "50% [25, 75]" and with_n(rate) == "50% [25, 75], n = 20"
    assert short(None) == "n/a"


def test_the_summary_tells_undecided_durability_from_not_forgotten() -> None:
    undecided = Verdict("durability", "npo / relearn", "s", 0.04, (0.0, 0.3), 20, 0.1, None)
    unforgotten = Verdict("durability", "idk / relearn", "s", float("nan"), None, 20, 0.1, None)
    few = Verdict("durability", "ga / relearn", "s", 0.0, (0.0, 0.5), 4, 0.1, None)
    text = summary_section([undecided, unforgotten, few]).markdown
    assert "half-widths up to 15%): npo / relearn." in text
    assert "not judged: idk / relearn, ga / relearn." in text

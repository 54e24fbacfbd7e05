"""Formatting shared by every report section: Markdown tables, percentages, intervals,
and the reference models' colours and markers (the same in every figure)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from matplotlib import colormaps
from matplotlib.colors import to_hex

from unlearnlab.probes.stats import Rate

if TYPE_CHECKING:
    from unlearnlab.report.models import ModelId

REFERENCE_COLORS = {"base": "black", "oracle": "tab:red", "deep_oracle": "tab:purple"}
"""Colour of each reference model in every figure."""
REFERENCE_MARKERS = {"base": "s", "oracle": "*", "deep_oracle": "P"}
"""Marker of each reference model in every scatter figure."""
CHANCE_STYLE = {"color": "gray", "linestyle": ":", "linewidth": 1}
"""Line style of a chance level."""


def md_table(header: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines)


def pct(value: float | None, digits: int = 0) -> str:
    """``42%`` (``digits`` decimals); ``n/a`` for None or NaN."""
    if value is None or value != value:
        return "n/a"
    return f"{100 * value:.{digits}f}%"


def points(value: float | None) -> str:
    """A difference of rates in percentage points, signed: ``+12 pts``."""
    if value is None or value != value:
        return "n/a"
    return f"{100 * value:+.0f} pts"


def short(rate: Rate | None) -> str:
    """``83% [76, 89]``; ``n/a`` for no rows."""
    if rate is None or rate.n == 0:
        return "n/a"
    return f"{100 * rate.value:.0f}% [{100 * rate.low:.0f}, {100 * rate.high:.0f}]"


def with_n(rate: Rate | None) -> str:
    """``83% [76, 89], n = 20``."""
    if rate is None or rate.n == 0:
        return "n/a"
    return f"{short(rate)}, n = {rate.n}"


def _palette(name: str) -> list[str]:
    """The colours of a qualitative colormap, as hex strings."""
    cmap = colormaps[name]
    return [to_hex(cmap(i)) for i in range(cmap.N)]


def method_colors(methods: Sequence[str]) -> dict[str, str]:
    """One colour per distinct method name, in first-seen order: tab10 without the
    references' colours and gray, tab20 (likewise) beyond that."""
    methods = list(dict.fromkeys(methods))
    reserved = {to_hex(c) for c in (*REFERENCE_COLORS.values(), "tab:gray")}
    free = [c for c in _palette("tab10") if c not in reserved]
    if len(methods) > len(free):
        free = [c for c in _palette("tab20") if c not in reserved]
    return {method: free[i % len(free)] for i, method in enumerate(methods)}


def model_colors(models: Sequence[ModelId]) -> dict[ModelId, str]:
    """One colour per method (tab10 without the references' colours and gray, tab20 beyond
    that), shared by its forget-set variants; the references' fixed colours. Figures tell
    variants apart by line style or marker fill, so a method looks the same in every
    figure and no method takes a reference's colour."""
    by_method = method_colors([m.method for m in models if not m.is_reference])
    return {
        m: REFERENCE_COLORS.get(m.role, "gray") if m.is_reference else by_method[m.method]
        for m in models
    }

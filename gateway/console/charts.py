"""Charts drawn on the server as SVG geometry (no script): the template only places shapes.

The disclosures chart is a stacked bar per day, one colour per agency (the busiest first; the
rest summed as "other"). The colours keep at least 4.5:1 against white (WCAG 2.1 AA, so they
also work as text), and the page gives the same figures as a table.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

from gateway.audit.service import DailyCount

PALETTE = ("#1f4e79", "#a4262c", "#2d6a2d", "#6b3fa0", "#8a5a00", "#4b5563")
MOST_AGENCIES = len(PALETTE) - 1  # beyond them: "other"
OTHER = "…"
WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 48, 8, 12, 36


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    colour: str
    label: str  # what a pointer shows: day, agency, entries


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class StackedBars:
    width: int
    height: int
    bars: list[Bar]
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    legend: list[tuple[str, str]]  # (colour, agency)
    plot_left: int
    plot_bottom: int
    plot_right: int
    total: int


def _nice_ceiling(value: int) -> int:
    """The smallest 1, 2 or 5 × 10^n at or above `value` (at least 1): the axis's top."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if factor * step >= value:
                return factor * step
        step *= 10


def disclosures_chart(counts: list[DailyCount], *, since: date, until: date) -> StackedBars:
    days = [since + timedelta(days=n) for n in range((until - since).days + 1)]
    totals: dict[str, int] = defaultdict(int)
    for count in counts:
        totals[count.agency] += count.entries
    ranked = sorted(totals, key=lambda agency: (-totals[agency], agency))
    shown = ranked[:MOST_AGENCIES] if len(ranked) > MOST_AGENCIES + 1 else ranked
    colours = {agency: PALETTE[i] for i, agency in enumerate(shown)}
    per_day: dict[date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for count in counts:
        agency = count.agency if count.agency in colours else OTHER
        per_day[count.day][agency] += count.entries
    order = [*shown, *([OTHER] if len(shown) < len(ranked) else [])]
    colours[OTHER] = PALETTE[-1]
    # four equal steps of a round size up to the axis's top
    step = _nice_ceiling(-(-max((sum(per_day[d].values()) for d in days), default=0) // 4))
    top = 4 * step
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    slot = plot_width / max(len(days), 1)
    bars: list[Bar] = []
    for index, day in enumerate(days):
        bottom = float(HEIGHT - BOTTOM)
        for agency in order:
            entries = per_day[day].get(agency, 0)
            if not entries:
                continue
            height = plot_height * entries / top
            bottom -= height
            bars.append(Bar(
                x=round(LEFT + index * slot + slot * 0.15, 1), y=round(bottom, 1),
                width=round(slot * 0.7, 1), height=round(height, 1), colour=colours[agency],
                label=f"{day.isoformat()} · {agency}: {entries}",
            ))  # fmt: skip
    every = max(1, len(days) // 7)
    x_ticks = [
        Tick(round(LEFT + i * slot + slot / 2, 1), day.strftime("%d/%m"))
        for i, day in enumerate(days)
        if i % every == 0
    ]
    y_ticks = [
        Tick(round(HEIGHT - BOTTOM - plot_height * part / 4, 1), str(step * part))
        for part in range(5)
    ]
    return StackedBars(
        width=WIDTH, height=HEIGHT, bars=bars, x_ticks=x_ticks, y_ticks=y_ticks,
        legend=[(colours[a], a) for a in order], plot_left=LEFT, plot_bottom=HEIGHT - BOTTOM,
        plot_right=WIDTH - RIGHT, total=sum(totals.values()),
    )  # fmt: skip

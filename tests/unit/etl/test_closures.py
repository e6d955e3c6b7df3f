"""A full export's closures against their limit: when a load stops, and what it says."""

from __future__ import annotations

import pytest

from etl.closures import Closures, ClosuresRefused, Scope


def _closures(closing: int, *, in_scope: int = 100, unidentified: int = 0,
              forced: bool = False) -> Closures:  # fmt: skip
    return Closures(
        scope=Scope(48, "Thành phố Đà Nẵng"), in_scope=in_scope, limit=0.05, forced=forced,
        unidentified=unidentified, primary="residents",
        closing={"residents": [f"r{n}" for n in range(closing)], "households": ["h1"]},
    )  # fmt: skip


@pytest.mark.parametrize(
    ("closing", "unidentified", "forced", "stops"),
    [
        (5, 0, False, False),  # 5 %: at the limit, not beyond it
        (6, 0, False, True),
        (6, 0, True, False),
        (1, 1, False, True),  # closing while a rejected row may hold any record
        (1, 1, True, False),
    ],
)
def test_a_full_export_stops_beyond_its_limit_or_blind(
    closing: int, unidentified: int, forced: bool, stops: bool
) -> None:
    assert _closures(closing, unidentified=unidentified, forced=forced).stops is stops


def test_nothing_to_close_never_stops_even_with_unreadable_rows() -> None:
    nothing = _closures(0, unidentified=3)
    nothing.closing["households"] = []
    assert (nothing.count, nothing.stops) == (0, False)


def test_an_empty_scope_closes_nothing_of_a_share() -> None:
    assert _closures(0, in_scope=0).share == 0.0


def test_the_refusal_says_why_and_the_figures_say_what() -> None:
    closures = _closures(7, unidentified=2)
    assert str(ClosuresRefused(closures)) == (
        "it would close 7 of the 100 residents of province 48 (Thành phố Đà Nẵng) (7.0%), more "
        "than LIENTHONG_FULL_EXPORT_MAX_CLOSE_SHARE (5.0%); 2 rejected row(s) have no key the "
        "registry could match: a record they hold may be among the 8 it would close"
    )
    assert closures.as_json() == {
        "scope": "province 48 (Thành phố Đà Nẵng)", "province": 48, "in_scope": 100,
        "closing": {"residents": 7, "households": 1}, "dependents": {}, "share": 0.07,
        "limit": 0.05, "unidentified_rejects": 2, "forced": False, "stopped": True,
    }  # fmt: skip
    assert str(Scope(None)) == "the whole registry"

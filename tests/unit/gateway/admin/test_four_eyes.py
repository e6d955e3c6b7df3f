"""Who counts as an author of the terms under review (and so may not approve them)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gateway.admin.agreements.service import authors
from gateway.policy.models import Agreement

START = datetime(2026, 1, 1, tzinfo=UTC)


def _history(*steps: tuple[str, str | None]) -> list[Agreement]:
    return [
        Agreement(status=status, changed_by=by, created_by="lan", valid_from=START + timedelta(n))
        for n, (status, by) in enumerate(steps)
    ]


def test_the_creator_and_every_editor_of_a_first_review() -> None:
    history = _history(("draft", "lan"), ("draft", "minh"), ("submitted", "minh"))
    assert authors(reversed(history)) == {"lan", "minh"}


def test_a_new_review_counts_only_those_who_changed_it_since() -> None:
    history = _history(
        ("draft", "lan"), ("submitted", "lan"), ("approved", "minh"), ("suspended", "hai"),
        ("draft", "hai"), ("submitted", "hai"),
    )  # fmt: skip
    assert authors(history) == {"hai"}


def test_versions_loaded_without_a_steward_name_their_creator() -> None:
    assert authors(_history(("submitted", None))) == {"lan"}

"""The change-rate guard and the suspicious-text checks: a bad export must not rewrite a registry.

Once-only reuse copies every registry error into every form, so a load is measured before it is
merged (registries.changes): how many existing records it would update, and per field how many
values it would change. Beyond the registry's limits it stops, naming the fields with a few
before → after samples, unless the operator accepts the changes (`--accept-changes`). The limits
apply only where enough existing records are touched for a share to mean something
(MIN_EXISTING): a first fill, or a handful of corrections, is never stopped by them.

Whatever the rate, a value that a broken converter has damaged is rejected with its own reason:
- TEXT_LOST_LETTERS: the new value is the current one with letters dropped, every dropped one a
  non-ASCII letter ("Việt" → "Vit"): what an encoder does with the letters it cannot encode;
- TEXT_REPLACEMENT_CHAR: the new value gains U+FFFD, or '?' where the current one has a
  Vietnamese letter;
- ENCODING_MIXED: a value holds characters that no Vietnamese text has but text decoded with the
  wrong code page does (the rest of the file was read in another encoding).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

# Records an export must touch before change shares count.
MIN_EXISTING = 100
DEFAULT_FIELD_SHARE = 0.25

# Per registry: the share of existing records a load may update, and per field the share of
# existing values it may change (identity rarely changes; addresses move).
LIMITS: dict[str, tuple[float, dict[str, float]]] = {
    "residents": (
        0.10,
        {
            "full_name": 0.02,
            "birth_date": 0.01,
            "sex": 0.01,
            "ethnicity_code": 0.02,
            "nationality": 0.01,
            "place_of_birth": 0.02,
            "hometown": 0.02,
            "father_id": 0.02,
            "mother_id": 0.02,
            "id_card_number": 0.02,
            "permanent_commune_code": 0.10,
            "permanent_address_line": 0.10,
            "household_id": 0.10,
        },
    ),
    "enterprises": (0.20, {"name": 0.05, "registered_on": 0.01, "enterprise_type": 0.05}),
    "parcels": (0.10, {"geom": 0.05, "declared_area": 0.05, "land_use_code": 0.10}),
}

# Latin-1 characters Vietnamese never uses; a lead byte of UTF-8 Vietnamese read as Windows-1252
# (Ã, Ä, Å, Æ) followed by what the code page makes of a continuation byte (€, ‚, ƒ, “, ™, …);
# and the replacement character a decoder leaves for a byte it could not read.
_NOT_VIETNAMESE = re.compile(
    "[\u0080-\u00bf\u00c4-\u00c7\u00cb\u00ce\u00cf\u00d0\u00d1\u00d6-\u00d8\u00db\u00dc"
    "\u00de\u00df\u00e4-\u00e7\u00eb\u00ee\u00ef\u00f0\u00f1\u00f6-\u00f8\u00fb\u00fc\u00fe\u00ff"
    "\ufffd]|[\u00c3-\u00c6][\u20ac\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160"
    "\u2039\u0152\u017d\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a"
    "\u0153\u017e\u0178]"
)


@dataclass(frozen=True)
class Limits:
    updated: float
    fields: dict[str, float]

    @classmethod
    def of(
        cls, target: str, *, updated: float | None = None, fields: dict[str, float] | None = None
    ) -> Limits:
        """The registry's defaults, with the operator's overrides."""
        default_updated, default_fields = LIMITS.get(target, (0.10, {}))
        return cls(
            updated=default_updated if updated is None else updated,
            fields={**default_fields, **(fields or {})},
        )

    def for_field(self, name: str) -> float:
        return self.fields.get(name, DEFAULT_FIELD_SHARE)


@dataclass
class FieldFigure:
    name: str
    changed: int
    share: float
    limit: float
    samples: list[tuple[str, str | None, str | None]] = field(default_factory=list)

    @property
    def over(self) -> bool:
        return self.share > self.limit


@dataclass
class GuardReport:
    """The guard's figures for one load (also what `--dry-run` prints and `etl_runs` keeps)."""

    staged: int
    existing: int
    updated: int
    updated_limit: float
    fields: list[FieldFigure]
    applies: bool  # enough existing records touched for the shares to count
    accepted: bool = False

    @property
    def updated_share(self) -> float:
        return self.updated / self.existing if self.existing else 0.0

    @property
    def over(self) -> list[str]:
        """What exceeds its limit: "updated" and/or field names (empty when it does not apply)."""
        if not self.applies:
            return []
        over = ["updated"] if self.updated_share > self.updated_limit else []
        return over + [f.name for f in self.fields if f.over]

    @property
    def stops(self) -> bool:
        return bool(self.over) and not self.accepted

    def as_json(self) -> dict[str, Any]:
        return {
            "staged": self.staged,
            "existing": self.existing,
            "updated": self.updated,
            "updated_share": round(self.updated_share, 4),
            "updated_limit": self.updated_limit,
            "applies": self.applies,
            "over": self.over,
            "accepted": self.accepted,
            "fields": {
                f.name: {
                    "changed": f.changed,
                    "share": round(f.share, 4),
                    "limit": f.limit,
                    "samples": [list(s) for s in f.samples],
                }
                for f in self.fields
                if f.changed
            },
        }


class ChangesRefused(RuntimeError):  # noqa: N818 - the load's outcome, reported to the operator
    """The load would change more than the registry's limits allow: nothing was merged."""

    def __init__(self, report: GuardReport) -> None:
        super().__init__(f"the load would change beyond the limits: {', '.join(report.over)}")
        self.report = report


def damage(before: str, after: str | None) -> tuple[str, str] | None:
    """(reason code, why) if `after` looks like `before` damaged by a broken converter."""
    if after is None or after == before:
        return None
    if "\ufffd" in after and "\ufffd" not in before:
        return "TEXT_REPLACEMENT_CHAR", "gains the replacement character U+FFFD"
    if after.count("?") > before.count("?") and not before.isascii():
        return "TEXT_REPLACEMENT_CHAR", "gains '?' where the current value has Vietnamese letters"
    if len(after) < len(before) and _dropped_only_non_ascii_letters(before, after):
        return "TEXT_LOST_LETTERS", "loses Vietnamese letters (a strict subsequence of the current)"
    return None


def _dropped_only_non_ascii_letters(before: str, after: str) -> bool:
    """Whether `after` is `before` with some characters removed, all non-ASCII letters."""
    position = 0
    for char in before:
        if position < len(after) and after[position] == char:
            position += 1
        elif char.isascii() or not char.isalpha():
            return False
    return position == len(after)


def mixed_encoding(value: str | None) -> bool:
    """Characters text decoded with the wrong code page shows, and Vietnamese never does."""
    return value is not None and not value.isascii() and _NOT_VIETNAMESE.search(value) is not None

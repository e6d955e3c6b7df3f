"""The suspicious-text checks, as properties over Vietnamese text."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from etl.guard import Limits, damage, mixed_encoding

VIETNAMESE = (
    "aăâbcdđeêghiklmnoôơpqrstuưvxyàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ"
)
WORDS = st.text(alphabet=VIETNAMESE + VIETNAMESE.upper(), min_size=1, max_size=8)
NAMES = st.lists(WORDS, min_size=1, max_size=4).map(" ".join)


@given(NAMES, st.data())
def test_dropping_vietnamese_letters_is_caught(name: str, data: st.DataObject) -> None:
    letters = [i for i, c in enumerate(name) if not c.isascii()]
    if not letters:
        return
    dropped = set(data.draw(st.lists(st.sampled_from(letters), min_size=1, unique=True)))
    broken = "".join(c for i, c in enumerate(name) if i not in dropped)
    assert damage(name, broken) == (
        "TEXT_LOST_LETTERS", "loses Vietnamese letters (a strict subsequence of the current)"
    )  # fmt: skip


@given(NAMES, NAMES)
def test_real_changes_are_not_damage(name: str, other: str) -> None:
    assert damage(name, f"{name} {other}") is None  # a name added to
    assert damage(name, name) is None
    assert not mixed_encoding(name)


@given(NAMES)
def test_replacement_characters_are_caught(name: str) -> None:
    assert damage(name, name + "\ufffd")[0] == "TEXT_REPLACEMENT_CHAR"  # type: ignore[index]
    if not name.isascii():
        assert damage(name, f"{name}?")[0] == "TEXT_REPLACEMENT_CHAR"  # type: ignore[index]


@given(NAMES)
def test_utf8_read_as_a_western_code_page_is_mixed_encoding(name: str) -> None:
    if not name.isascii():
        assert mixed_encoding(name.encode("utf-8").decode("cp1252", errors="replace"))


def test_limits_default_per_registry_and_take_overrides() -> None:
    limits = Limits.of("residents", fields={"full_name": 0.05})
    assert (limits.updated, limits.for_field("full_name"), limits.for_field("birth_date")) == (
        0.10, 0.05, 0.01
    )  # fmt: skip
    assert Limits.of("residents", updated=0.3).for_field("religion") == 0.25

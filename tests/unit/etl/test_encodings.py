"""Vietnamese text in every encoding agency exports come in ends up as the same NFC text."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from etl.encodings import (
    CP1258,
    LEGACY_ENCODINGS,
    UTF8,
    EncodingError,
    TextDecoder,
    detect,
    encode_legacy,
)
from etl.synth import FAMILY_NAMES, GIVEN_NAMES, MIDDLE_NAMES

NAMES = [
    "Nguyễn Thị Hồng Nhung",
    "Đặng Văn Ưởng",
    "Trương Mỹ Lệ",
    "Lê Ánh Dương",
    "Phạm Quốc Việt",
    "Huỳnh Thị Thu Hà",
    "Võ Minh Khôi",
    "Bùi Đức Thắng",
]
ALL_ENCODINGS = (*LEGACY_ENCODINGS, CP1258)


@pytest.mark.parametrize("encoding", ALL_ENCODINGS)
def test_a_file_of_names_is_detected_and_decoded_exactly(encoding: str) -> None:
    lines = [encode_legacy(f"{i},{name}\n", encoding) for i, name in enumerate(NAMES * 10)]
    assert all(line is not None for line in lines)
    blob = b"".join(line for line in lines if line is not None)
    decoder = detect(blob)
    assert decoder.encoding == encoding
    assert decoder(blob).splitlines()[: len(NAMES)] == [
        f"{i},{name}" for i, name in enumerate(NAMES)
    ]


def test_utf8_and_decomposed_utf8_become_nfc() -> None:
    decomposed = unicodedata.normalize("NFD", "Nguyễn Văn An").encode("utf-8")
    decoder = detect(decomposed)
    assert decoder.encoding == UTF8
    assert decoder(decomposed) == "Nguyễn Văn An"
    assert decoder("\ufeffĐà Nẵng".encode()) == "Đà Nẵng"  # a byte-order mark is dropped


def test_a_declared_encoding_wins_and_an_unknown_one_is_refused() -> None:
    assert detect(b"abc", "TCVN3") == TextDecoder("tcvn3")
    with pytest.raises(EncodingError, match="unknown encoding 'koi8-r'"):
        detect(b"abc", "koi8-r")


def test_every_synthetic_name_part_survives_every_legacy_encoding() -> None:
    parts = [name for name, _ in FAMILY_NAMES]
    parts += [name for names in MIDDLE_NAMES.values() for name, _ in names]
    parts += [name for names in GIVEN_NAMES.values() for name in names]
    for encoding in ALL_ENCODINGS:
        for part in parts:
            encoded = encode_legacy(part, encoding)
            assert encoded is not None, (encoding, part)
            assert TextDecoder(encoding)(encoded) == part


@given(st.lists(st.sampled_from(NAMES), min_size=1, max_size=5), st.sampled_from(ALL_ENCODINGS))
def test_round_trip_of_any_sequence_of_names(names: list[str], encoding: str) -> None:
    text = " ".join(names)
    encoded = encode_legacy(text, encoding)
    assert encoded is not None
    assert TextDecoder(encoding)(encoded) == text


def test_text_an_encoding_cannot_carry_is_reported() -> None:
    assert encode_legacy("Ẩn", "tcvn3") is None  # TCVN3 has no upper-case toned letters

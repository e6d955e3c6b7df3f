"""Vietnamese text from agency exports: UTF-8, Windows-1258, or the legacy font encodings.

Exports from older systems come as TCVN3 (ABC, `.Vn` fonts), VNI or VISCII — single-byte
encodings whose bytes, read as Windows-1252, surface as Latin letters (`NguyÔn` is Nguyễn in
TCVN3) — or as Windows-1258, which writes tones as combining marks. The conversion tables and
the content-based detector come from `viparse` (maintained, corpus-validated tables); this
module decides which one a file is in and turns everything into NFC.
"""

from __future__ import annotations

import codecs
import io
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from viparse.normalize.detector import detect_encoding_by_content
from viparse.normalize.encodings import AUTO_DETECT_CHARMAPS, CHARMAPS
from viparse.normalize.frequency import vietnamese_score
from viparse.normalize.tables import convert

UTF8 = "utf-8"
CP1258 = "windows-1258"
LEGACY_ENCODINGS = ("tcvn3", "vni", "viscii")
DETECTION_SAMPLE_BYTES = 256 * 1024
_TOKEN_SEPARATORS = re.compile(r'[\s,;|:"]+')


class EncodingError(ValueError):
    """Bytes that cannot be read as Vietnamese text in any known encoding."""


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _latin1_fallback(error: UnicodeError) -> tuple[str, int]:
    """Bytes Windows-1252 leaves undefined (0x81, 0x8D, …) surface as their Latin-1 twins."""
    if not isinstance(error, UnicodeDecodeError):
        raise error
    return error.object[error.start : error.end].decode("latin-1"), error.end


codecs.register_error("lienthong-latin1-fallback", _latin1_fallback)


def surface_text(data: bytes) -> str:
    """Legacy-font bytes as the characters a Windows program shows for them."""
    return data.decode("cp1252", errors="lienthong-latin1-fallback")


def surface_bytes(text: str) -> bytes:
    """The inverse of `surface_text`."""
    return b"".join(
        char.encode("cp1252") if _in_cp1252(char) else char.encode("latin-1") for char in text
    )


def _in_cp1252(char: str) -> bool:
    try:
        char.encode("cp1252")
    except UnicodeEncodeError:
        return False
    return True


@dataclass(frozen=True)
class TextDecoder:
    """How to turn the bytes of one file into NFC text."""

    encoding: str

    def __call__(self, data: bytes) -> str:
        return _DECODERS[self.encoding](data)

    def lines(self, handle: BinaryIO) -> Iterator[str]:
        """The file's lines as text. UTF-8 is decoded in blocks at C speed and not normalised
        here: values are brought to NFC field by field when validated (etl.validation.text).
        Legacy encodings are decoded, to NFC, line by line."""
        if self.encoding == UTF8:
            yield from io.TextIOWrapper(handle, encoding="utf-8-sig", newline="")
            return
        for line in handle:
            yield self(line)


def _decode_utf8(data: bytes) -> str:
    text = data.decode("utf-8-sig")
    return text if text.isascii() else nfc(text)


def _decode_cp1258(data: bytes) -> str:
    return nfc(data.decode("cp1258"))


def _legacy_decoder(name: str) -> Callable[[bytes], str]:
    charmap = CHARMAPS[name]

    def decode(data: bytes) -> str:
        return str(convert(surface_text(data), charmap))

    return decode


_DECODERS: dict[str, Callable[[bytes], str]] = {
    UTF8: _decode_utf8,
    CP1258: _decode_cp1258,
    **{name: _legacy_decoder(name) for name in LEGACY_ENCODINGS},
}


def detect(sample: bytes, declared: str | None = None) -> TextDecoder:
    """The decoder for a file, from its first bytes (or the encoding its sender declared)."""
    if declared:
        name = declared.lower()
        if name not in _DECODERS:
            raise EncodingError(
                f"unknown encoding {declared!r}; known: {', '.join(sorted(_DECODERS))}"
            )
        return TextDecoder(name)
    try:
        sample.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        if len(sample) - error.start > 4:  # a cut multi-byte sequence at the very end is fine
            return _detect_single_byte(sample)
    return TextDecoder(UTF8)


def _evidence(text: str) -> str:
    """The words that can tell encodings apart: those with non-ASCII letters and no digits.
    IDs, dates and codes are the same in every encoding and would drown the signal."""
    return " ".join(
        word
        for word in _TOKEN_SEPARATORS.split(text)
        if word and not word.isascii() and not any(char.isdigit() for char in word)
    )


def _detect_single_byte(sample: bytes) -> TextDecoder:
    surface = _evidence(surface_text(sample))
    legacy = detect_encoding_by_content(surface, AUTO_DETECT_CHARMAPS)
    if legacy.encoding is None:
        return TextDecoder(CP1258)
    converted = str(convert(surface, CHARMAPS[legacy.encoding]))
    windows = _evidence(_decode_cp1258(sample))
    if vietnamese_score(windows) >= vietnamese_score(converted):
        return TextDecoder(CP1258)
    return TextDecoder(legacy.encoding)


TONE_MARKS = frozenset("\u0300\u0301\u0303\u0309\u0323")


def _windows_1258_form(text: str) -> str:
    """Windows-1258's own spelling: letters with circumflex, breve or horn precomposed, the five
    tone marks written as combining characters after them."""
    out: list[str] = []
    for char in unicodedata.normalize("NFD", text):
        if unicodedata.combining(char) and char not in TONE_MARKS and out:
            tones = ""
            while out and out[-1] in TONE_MARKS:
                tones = out.pop() + tones
            out[-1] = unicodedata.normalize("NFC", out[-1] + char)
            out.extend(tones)
        else:
            out.append(char)
    return "".join(out)


def encode_legacy(text: str, encoding: str) -> bytes | None:
    """`text` in a legacy encoding (for synthetic exports), or None when that encoding cannot
    carry it exactly (TCVN3 has no upper-case toned letters, for one)."""
    if encoding == CP1258:
        try:
            encoded = _windows_1258_form(text).encode("cp1258")
        except UnicodeEncodeError:
            return None
        return encoded if _decode_cp1258(encoded) == nfc(text) else None
    charmap = CHARMAPS[encoding]
    reverse: dict[str, str] = {}
    for legacy, unicode_text in charmap.pairs:
        reverse.setdefault(unicode_text, legacy)
    surface = "".join(reverse.get(char, char) for char in nfc(text))
    try:
        encoded = surface_bytes(surface)
    except UnicodeEncodeError:
        return None
    return encoded if _DECODERS[encoding](encoded) == nfc(text) else None

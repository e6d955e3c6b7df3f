"""A signed answer's token: it verifies with the key its kid names, and any single changed byte
(header, payload, signature or a separator) makes it fail."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jwcrypto import jwk

from gateway.signing.answers import AnswerRejected, sign_answer, verify_answer

KEY = jwk.JWK.generate(kty="EC", crv="P-256")
JWKS = {"keys": [{**json.loads(KEY.export_public()), "kid": "k1", "alg": "ES256", "use": "sig"}]}
CLAIMS: dict[str, Any] = {
    "iss": "https://gw.example.vn",
    "iat": 1_800_000_000,
    "request_id": "5f0c",
    "agency": "motcua-danang",
    "officer": {"id": "can-bo-07", "name": None, "unit": None, "verified": "header"},
    "purpose": "CT01",
    "dossier": None,
    "status": 200,
    "response": {"data": {"resident": {"fullName": "Trần Thị Mai"}}},
    "access_log": {
        "entries": [{"chain_key": "ab:2026-12", "seq": 7, "hash": "00" * 32}],
        "heads": [{"chain_key": "ab:2026-12", "seq": 9, "hash": "11" * 32}],
    },
}
TOKEN = sign_answer(CLAIMS, KEY, kid="k1")


def test_the_token_verifies_to_its_claims() -> None:
    answer = verify_answer(TOKEN, JWKS)
    assert (answer.agency, answer.purpose, answer.status) == ("motcua-danang", "CT01", 200)
    assert answer.response == CLAIMS["response"]
    assert [(h.chain_key, h.seq, h.hash) for h in answer.heads] == [("ab:2026-12", 9, "11" * 32)]
    assert answer.entries[0].seq == 7


@settings(max_examples=400, deadline=None)
@given(
    index=st.integers(min_value=0, max_value=len(TOKEN) - 1),
    byte=st.integers(min_value=0, max_value=255),
)
def test_any_single_byte_change_fails(index: int, byte: int) -> None:
    raw = TOKEN.encode("ascii")
    if raw[index] == byte:
        byte ^= 1
    changed = raw[:index] + bytes([byte]) + raw[index + 1 :]
    with pytest.raises(AnswerRejected):
        verify_answer(changed.decode("latin-1"), JWKS)


def test_a_key_published_for_another_algorithm_is_refused() -> None:
    other = {"keys": [{**JWKS["keys"][0], "alg": "RS256"}]}
    with pytest.raises(AnswerRejected, match="not published for ES256"):
        verify_answer(TOKEN, other)

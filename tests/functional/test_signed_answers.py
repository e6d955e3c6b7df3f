"""Signed answers through HTTP, with the real app and PostgreSQL: `Accept: application/jose`
gives a JWS over the answer, who asked, for what, and the access-log entries and chain heads it
wrote; it verifies offline (the function and `lienthong verify-answer`), fails after one byte
changes, survives a key rotation while the old key is published; clients not asking get what
they always got."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from jwcrypto import jwk

from gateway.app import create_app
from gateway.identity.dev_issuer import DevIssuer
from gateway.signing.answers import JWKS_PATH, AnswerRejected, SignedAnswer, verify_answer
from gateway.signing.keys import AnswerKeyError
from lienthong.settings import Env, Settings
from tests import clients
from tests.graphql_world import sample_resident

ROOT = Path(__file__).resolve().parents[2]
JOSE = "application/jose"
GRAPHQL_RESPONSE = "application/graphql-response+json"
RESIDENT = "query($id: ID!) { resident(id: $id) { fullName birthDate } }"
LIENTHONG = [str(Path(sys.executable).with_name("lienthong"))]


def _key_file(path: Path) -> Path:
    """A fresh P-256 private key, as an operator would write it (PEM)."""
    key = jwk.JWK.generate(kty="EC", crv="P-256")
    path.write_bytes(key.export_to_pem(private_key=True, password=None))
    return path


def _replace(path: Path, data: bytes) -> None:
    """Atomically, as docs/evidence.md tells operators to rotate."""
    temporary = path.with_suffix(".new")
    temporary.write_bytes(data)
    os.replace(temporary, path)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("signed-home")


@pytest.fixture(scope="module")
def settings_(committed_database_url: str, home: Path) -> Settings:
    return Settings(
        database_url=committed_database_url,
        home=home,
        public_url="https://gw.example.vn",
        answer_signing_key_file=_key_file(home / "answer-key.pem"),
        answer_retired_keys_file=home / "retired-keys.json",
    )


@pytest.fixture(scope="module")
async def resident(settings_: Settings) -> str:
    return await sample_resident(settings_, "Trần Thị Mai")


@pytest.fixture(scope="module")
async def http(settings_: Settings, resident: str) -> AsyncIterator[httpx.AsyncClient]:
    async with clients.app_client(settings_) as client:
        client.headers.update(clients.agency(DevIssuer(settings_)))
        client.headers["X-Purpose"] = "CT01"
        client.headers["X-Officer"] = "can-bo-07"
        yield client


async def _jwks(http: httpx.AsyncClient) -> dict[str, Any]:
    published = await http.get(JWKS_PATH)
    assert published.status_code == 200
    return dict(published.json())


async def _signed(
    http: httpx.AsyncClient, body: dict[str, Any], **headers: str
) -> tuple[httpx.Response, SignedAnswer]:
    answer = await http.post("/graphql", json=body, headers={"Accept": JOSE, **headers})
    assert answer.headers["content-type"] == JOSE, answer.text
    return answer, verify_answer(answer.text, await _jwks(http))


def _rows(settings: Settings, request_id: str) -> list[tuple[str, int, str]]:
    with psycopg.connect(settings.libpq_url) as connection:
        rows = connection.execute(
            "SELECT chain_key, seq, encode(hash, 'hex') FROM access_log "
            "WHERE request_id = %s ORDER BY chain_key, seq",
            (request_id,),
        ).fetchall()
    return [(str(k), int(s), str(h)) for k, s, h in rows]


def _hash_at(settings: Settings, chain_key: str, seq: int) -> str | None:
    with psycopg.connect(settings.libpq_url) as connection:
        row = connection.execute(
            "SELECT encode(hash, 'hex') FROM access_log WHERE chain_key = %s AND seq = %s",
            (chain_key, seq),
        ).fetchone()
    return None if row is None else str(row[0])


def _flip(token: str, index: int) -> str:
    """The token with one character changed (another of the base64url alphabet)."""
    replacement = "A" if token[index] != "A" else "B"
    return token[:index] + replacement + token[index + 1 :]


async def test_a_signed_answer_certifies_the_request_and_quotes_the_log(
    http: httpx.AsyncClient, settings_: Settings, resident: str
) -> None:
    body = {"query": RESIDENT, "variables": {"id": resident}}
    plain = await http.post("/graphql", json=body, headers={"Accept": GRAPHQL_RESPONSE})
    answer, signed = await _signed(http, body)
    assert answer.status_code == 200
    assert answer.headers["x-request-id"] == signed.request_id
    assert signed.issuer == "https://gw.example.vn"
    assert abs(signed.issued_at - datetime.now(UTC)) < timedelta(minutes=1)
    assert (signed.agency, signed.purpose, signed.dossier) == ("motcua-danang", "CT01", None)
    assert signed.officer == {"id": "can-bo-07", "name": None, "unit": None, "verified": "header"}
    # the response object is exactly what a graphql-response+json client gets
    assert signed.response == plain.json()
    assert signed.response["data"]["resident"]["fullName"] == "Trần Thị Mai"
    # the entries are the rows this request wrote, and the head is a row of their chain
    assert signed.request_id is not None
    rows = _rows(settings_, signed.request_id)
    assert rows
    assert [(e.chain_key, e.seq, e.hash) for e in signed.entries] == rows
    [head] = signed.heads
    assert head.chain_key == rows[-1][0]
    assert head.seq >= rows[-1][1]
    assert _hash_at(settings_, head.chain_key, head.seq) == head.hash


async def test_a_changed_byte_of_payload_or_signature_fails(
    http: httpx.AsyncClient, resident: str
) -> None:
    answer, _ = await _signed(http, {"query": RESIDENT, "variables": {"id": resident}})
    token, jwks = answer.text, await _jwks(http)
    header, payload, signature = token.split(".")
    in_payload = len(header) + 1 + len(payload) // 2
    in_signature = len(header) + len(payload) + 2 + len(signature) // 2
    with pytest.raises(AnswerRejected) as payload_changed:
        verify_answer(_flip(token, in_payload), jwks)
    assert payload_changed.value.reason in ("bad signature", "malformed")
    with pytest.raises(AnswerRejected) as signature_changed:
        verify_answer(_flip(token, in_signature), jwks)
    assert signature_changed.value.reason == "bad signature"
    with pytest.raises(AnswerRejected) as unknown:
        verify_answer(token, {"keys": []})
    assert unknown.value.reason == "unknown kid"


def _cli(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LIENTHONG, "verify-answer", *arguments],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )


async def test_verify_answer_command_offline(
    http: httpx.AsyncClient, resident: str, tmp_path: Path
) -> None:
    answer, signed = await _signed(http, {"query": RESIDENT, "variables": {"id": resident}})
    saved, keys = tmp_path / "answer.jws", tmp_path / "keys.json"
    saved.write_text(answer.text, encoding="ascii")
    keys.write_text(json.dumps(await _jwks(http)), encoding="utf-8")
    good = _cli(str(saved), "--jwks", str(keys))
    assert good.returncode == 0, good.stderr
    assert "VERIFIED" in good.stdout
    for shown in ("motcua-danang", "CT01", "can-bo-07", signed.entries[0].hash, "verified by"):
        assert shown in good.stdout
    assert signed.heads[0].hash in good.stdout

    token = answer.text
    header, payload, _ = token.split(".")
    for name, index in (
        ("payload", len(header) + 1 + len(payload) // 3),
        ("signature", len(token) - 5),
    ):
        saved.write_text(_flip(token, index), encoding="ascii")
        bad = _cli(str(saved), "--jwks", str(keys))
        assert bad.returncode == 1, name
        assert "NOT VERIFIED" in bad.stderr, name
    saved.write_text(token, encoding="ascii")
    keys.write_text('{"keys": []}', encoding="utf-8")
    unknown = _cli(str(saved), "--jwks", str(keys))
    assert unknown.returncode == 1
    assert "unknown kid" in unknown.stderr
    saved.write_text("not a signed answer", encoding="ascii")
    malformed = _cli(str(saved), "--jwks", str(keys))
    assert malformed.returncode == 1
    assert "malformed" in malformed.stderr


async def test_errors_are_signed_with_their_status(http: httpx.AsyncClient) -> None:
    # the executor refuses it: 400 as for application/graphql-response+json, nothing logged
    answer, signed = await _signed(http, {"query": "{ nope }"})
    assert answer.status_code == signed.status == 400
    assert signed.response["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "data" not in signed.response
    assert (signed.entries, signed.heads) == ([], [])
    assert signed.agency == "motcua-danang"
    # the door refuses it before any request id: signed all the same
    door = await http.post(
        "/graphql",
        content=b"[1, 2]",
        headers={"Accept": JOSE, "Content-Type": "application/json"},
    )
    assert door.status_code == 400
    refused = verify_answer(door.text, await _jwks(http))
    assert refused.status == 400
    assert refused.request_id is None
    assert refused.response["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


async def test_a_request_that_logs_nothing_gets_empty_lists(http: httpx.AsyncClient) -> None:
    answer, signed = await _signed(http, {"query": "{ __typename }"})
    assert answer.status_code == 200
    assert signed.response == {"data": {"__typename": "Query"}}
    assert (signed.entries, signed.heads) == ([], [])


async def test_get_asks_for_a_signed_answer_too(http: httpx.AsyncClient) -> None:
    answer = await http.get(
        "/graphql", params={"query": "{ __typename }"}, headers={"Accept": JOSE}
    )
    assert answer.headers["content-type"] == JOSE
    assert verify_answer(answer.text, await _jwks(http)).response == {
        "data": {"__typename": "Query"}
    }


@pytest.mark.parametrize("accept", ["application/json", "application/graphql-response+json", ""])
async def test_clients_not_asking_get_what_they_got(
    http: httpx.AsyncClient, resident: str, accept: str
) -> None:
    body = {"query": RESIDENT, "variables": {"id": resident}}
    answer = await http.post("/graphql", json=body, headers={"Accept": accept})
    assert answer.status_code == 200
    expected = accept or "application/json"
    assert answer.headers["content-type"].split(";")[0] == expected
    assert answer.json()["data"]["resident"]["fullName"] == "Trần Thị Mai"
    refused = await http.post("/graphql", json={"query": "{ nope }"}, headers={"Accept": accept})
    assert refused.headers["content-type"].split(";")[0] == expected
    assert refused.status_code == (400 if accept == GRAPHQL_RESPONSE else 200)
    assert refused.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


async def test_rotation_keeps_old_answers_verifiable_while_published(
    committed_database_url: str, resident: str, tmp_path: Path
) -> None:
    key_file = _key_file(tmp_path / "key.pem")
    retired_file = tmp_path / "retired.json"
    settings = Settings(
        database_url=committed_database_url,
        home=tmp_path,
        answer_signing_key_file=key_file,
        answer_retired_keys_file=retired_file,
        answer_key_retention_days=30,
    )
    body = {"query": RESIDENT, "variables": {"id": resident}}
    async with clients.app_client(settings) as http:
        http.headers.update(clients.agency(DevIssuer(settings)))
        http.headers["X-Purpose"] = "CT01"
        old, before = await _signed(http, body)

        # rotation: the old key's public half to the retired keys, a new key in the key file
        old_public = next(k for k in (await _jwks(http))["keys"] if k["kid"] == before.kid)
        retired = {"keys": [{**old_public, "retired_at": datetime.now(UTC).isoformat()}]}
        _replace(retired_file, json.dumps(retired).encode())
        new_key = jwk.JWK.generate(kty="EC", crv="P-256")
        _replace(key_file, new_key.export_to_pem(private_key=True, password=None))

        _, after = await _signed(http, body)  # the very next request: the new key
        assert after.kid != before.kid
        published = await _jwks(http)
        assert [k["kid"] for k in published["keys"]] == [after.kid, before.kid]
        assert all(k["use"] == "sig" and k["alg"] == "ES256" for k in published["keys"])
        assert not any("d" in k for k in published["keys"])
        assert verify_answer(old.text, published).request_id == before.request_id

        # past its retention the old key is dropped: its answers no longer verify
        long_ago = datetime.now(UTC) - timedelta(days=31)
        retired = {"keys": [{**old_public, "retired_at": long_ago.isoformat()}]}
        _replace(retired_file, json.dumps(retired).encode())
        published = await _jwks(http)
        assert [k["kid"] for k in published["keys"]] == [after.kid]
        with pytest.raises(AnswerRejected) as dropped:
            verify_answer(old.text, published)
        assert dropped.value.reason == "unknown kid"


def test_prod_without_a_signing_key_refuses_to_start(
    committed_database_url: str, tmp_path: Path
) -> None:
    settings = Settings(env=Env.PROD, database_url=committed_database_url, home=tmp_path)
    with pytest.raises(AnswerKeyError, match="LIENTHONG_ANSWER_SIGNING_KEY_FILE"):
        create_app(settings)
    missing = settings.model_copy(update={"answer_signing_key_file": tmp_path / "absent.pem"})
    with pytest.raises(AnswerKeyError, match="no file"):
        create_app(missing)
    # no key was made in prod's stead
    assert not (tmp_path / "answer-signing").exists()


def test_dev_makes_its_key_once_under_home(committed_database_url: str, tmp_path: Path) -> None:
    settings = Settings(database_url=committed_database_url, home=tmp_path)
    first = create_app(settings).state.answer_keys.current()
    second = create_app(settings).state.answer_keys.current()
    assert first.kid == second.kid
    path = tmp_path / "answer-signing" / "signing-key.json"
    assert path.stat().st_mode & 0o777 == 0o600

"""`residentByDocument`: a resident found by an old identity card's number, through HTTP, as
agencies ask it; malformed numbers refused with their reason, every lookup logged, absent and
refused alike to a caller who may not see residents. With plans and without: the field is the
generic executor's either way, the world the same."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from gateway.policy.service import grant_consent
from lienthong.settings import Settings
from registries.db import create_engine, session_factory
from tests import factories
from tests.graphql_world import SAMPLE_POLICY, Api, running
from tests.policy_worlds import load_as_written

QUERY = "query($n: String!) { resident: residentByDocument(number: $n) { id fullName } }"


@dataclass(frozen=True)
class Holders:
    cmnd: str  # a 9-digit CMND, held by `holder`
    holder: str
    card: str  # a 12-digit card number, held by `card_holder`
    card_holder: str
    shared: str  # a CMND an export gave two residents
    nobody: str  # a well-formed CMND no resident holds


@pytest.fixture(scope="module")
def docs_settings(
    committed_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    return Settings(database_url=committed_database_url, home=tmp_path_factory.mktemp("docs"))


@pytest.fixture(scope="module")
async def holders(docs_settings: Settings) -> Holders:
    serial = uuid.uuid4().int
    cmnd, card = f"20{serial % 10**7:07d}", f"079{serial % 10**9:09d}"
    shared, nobody = f"21{serial % 10**7:07d}", f"22{serial % 10**7:07d}"
    engine = create_engine(docs_settings, pool_size=1)
    try:
        async with session_factory(engine).begin() as session:
            await load_as_written(session=session, document=SAMPLE_POLICY)
            holder = await factories.make_resident(
                session, full_name="Đỗ Văn Hùng", id_card_number=cmnd
            )
            card_holder = await factories.make_resident(
                session, full_name="Lý Thị Thu", sex="female", id_card_number=card
            )
            for _ in range(2):
                await factories.make_resident(session, id_card_number=shared)
    finally:
        await engine.dispose()
    return Holders(cmnd, holder.personal_id, card, card_holder.personal_id, shared, nobody)


@pytest.fixture(scope="module", params=[True, False], ids=["plans", "generic"])
async def api(
    docs_settings: Settings, holders: Holders, request: pytest.FixtureRequest
) -> AsyncIterator[Api]:
    async for client in running(docs_settings.model_copy(update={"graphql_plans": request.param})):
        yield client


def _log(settings: Settings, request_id: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(settings.libpq_url) as connection:
        return connection.execute(
            "SELECT subject_id, fields_given, fields_denied, decision ->> 'outcome' "
            "FROM access_log WHERE request_id = %s ORDER BY subject_id",
            (request_id,),
        ).fetchall()


async def _ask(api: Api, number: str, **kw: Any) -> tuple[dict[str, Any], str]:
    answer = await api.post(QUERY, {"n": number}, **kw)
    assert answer.status_code == 200, answer.text
    return answer.json(), answer.headers["X-Request-Id"]


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("12345", "DOCUMENT_NUMBER_FORMAT"),
        ("20123456x", "DOCUMENT_NUMBER_FORMAT"),
        ("2012345678", "DOCUMENT_NUMBER_FORMAT"),
        ("999123456789", "DOCUMENT_NUMBER_PROVINCE"),
    ],
)
async def test_a_malformed_number_is_refused_with_its_reason(
    api: Api, number: str, reason: str
) -> None:
    body, _ = await _ask(api, number)
    assert body["data"] == {"resident": None}
    (error,) = body["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "number"}
    assert error["message"].startswith("number: ") and error["message"].endswith(f"({reason})")


async def test_a_card_number_finds_its_holder_governed_and_logged(
    api: Api, holders: Holders, docs_settings: Settings
) -> None:
    for number, holder, name in (
        (holders.cmnd, holders.holder, "Đỗ Văn Hùng"),
        (f" {holders.cmnd[:3]} {holders.cmnd[3:6]} {holders.cmnd[6:]} ", holders.holder,
         "Đỗ Văn Hùng"),
        (holders.card, holders.card_holder, "Lý Thị Thu"),
    ):  # fmt: skip
        body, request_id = await _ask(api, number)
        assert body == {"data": {"resident": {"id": holder, "fullName": name}}}
        assert _log(docs_settings, request_id) == [(holder, ["fullName", "id"], [], "disclosed")]


async def test_the_personal_id_is_governed_when_the_caller_sent_a_card_number(
    api: Api, holders: Holders, docs_settings: Settings
) -> None:
    """The bank's agreement gives names, with the citizen's consent, but not the personal ID:
    the card number does not earn it."""
    async with api.app.state.services.sessions.begin() as session:
        await grant_consent(
            session=session, subject_id=holders.holder, agency="nganhang-abc",
            purpose="TD-VAY", fields=["fullName"],
            expires_at=datetime.now(UTC) + timedelta(days=30),
        )  # fmt: skip
    body, request_id = await _ask(api, holders.cmnd, agency="nganhang-abc", purpose="TD-VAY")
    assert body["data"] == {"resident": {"id": None, "fullName": "Đỗ Văn Hùng"}}
    assert [e["extensions"]["field"] for e in body["errors"]] == ["Resident.id"]
    assert _log(docs_settings, request_id) == [(holders.holder, ["fullName"], ["id"], "disclosed")]


async def test_absent_and_refused_answer_alike(
    api: Api, holders: Holders, docs_settings: Settings
) -> None:
    """A number no one holds is null for a caller who may see residents, an attempt logged
    under the number; for a caller who may not, held or not, the same refusal."""
    body, request_id = await _ask(api, holders.nobody)
    assert body == {"data": {"resident": None}}
    assert _log(docs_settings, request_id) == [(holders.nobody, [], [], "absent")]
    refusals = []
    for number, subject in ((holders.cmnd, holders.holder), (holders.nobody, holders.nobody)):
        body, request_id = await _ask(api, number, agency="thue-hcm", purpose="DKKD")
        assert body["data"] == {"resident": None}
        refusals.append(body["errors"])
        assert _log(docs_settings, request_id) == [(subject, [], ["fullName", "id"], "refused")]
    assert refusals[0] == refusals[1]
    assert refusals[0][0]["extensions"]["code"] == "FORBIDDEN"


async def test_a_number_two_residents_hold_names_no_one(api: Api, holders: Holders) -> None:
    body, _ = await _ask(api, holders.shared)
    assert body["data"] == {"resident": None}
    (error,) = body["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "number"}
    assert "several residents hold this card number" in error["message"]


async def test_a_lookup_by_card_number_needs_a_purpose(api: Api, holders: Holders) -> None:
    """Registry data like any other: admitted only with X-Purpose (and, where required, an
    officer, the dossier and the quotas that come with it)."""
    answer = await api.post(QUERY, {"n": holders.cmnd}, purpose=None)
    assert [e["extensions"]["code"] for e in answer.json()["errors"]] == ["PURPOSE_REQUIRED"]

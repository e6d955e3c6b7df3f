"""The prefill's fast path (compiled plans of trusted documents) against the generic executor.

Two gateways over the same database, one with plans and one without, answer the same requests —
allowed, masked and denied fields, a refused head of household, an unknown mask, a masked
relation, refused, absent and malformed subjects, another purpose — byte for byte the same, with
the same access-log entries; and the plan answers the cases it covers itself instead of quietly
leaving them to the generic executor."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import httpx
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event

from gateway.graph.types import governed
from lienthong.settings import Settings
from registries.db import create_engine, session_factory
from tests import factories
from tests.graphql_world import PLANS_METRIC, SAMPLE_POLICY, Api, World, build_world, running
from tests.policy_worlds import load_as_written

CT01 = {
    "purpose": "CT01",
    "legal_basis": "Luật Cư trú 2020",
    "consent_required": False,
    "via": None,
    "masking": {},
    "status": "approved",
    "valid_from": "2025-07-01T00:00:00Z",
    "valid_to": None,
}
# Agencies whose CT01 agreements exercise every outcome a plan must reproduce.
AGREEMENTS = [
    # masks on values and on an address, fields outside the agreement, a masked headId and the
    # head of household refused
    {**CT01, "agency": "motcua-hoian", "type": "Resident",
     "fields": ["id", "fullName", "birthDate", "sex", "household", "permanentAddress",
                "deceased", "deceasedOn"],
     "masking": {"fullName": "initials", "birthDate": "year_only",
                 "permanentAddress": "province_only", "deceasedOn": "year_only"}},
    {**CT01, "agency": "motcua-hoian", "type": "Household", "fields": ["id", "headId"],
     "masking": {"headId": "last4"}},
    # a mask this gateway does not know: the field is refused; the household needs a consent
    # that was never given: it is refused whole
    {**CT01, "agency": "motcua-hue", "type": "Resident",
     "fields": ["id", "fullName", "sex", "household", "deceased"],
     "masking": {"sex": "scramble", "deceased": "scramble"}},
    # a masked relation: left to the generic executor
    {**CT01, "agency": "motcua-quangnam", "type": "Resident",
     "fields": ["id", "fullName", "household"], "masking": {"household": "initials"}},
    {**CT01, "agency": "motcua-quangnam", "type": "Household", "fields": ["id", "headId"]},
    {**CT01, "agency": "motcua-hue", "type": "Household", "fields": ["id", "headId"],
     "consent_required": True},
]  # fmt: skip
AGENCIES = [
    {"client_id": name, "name": name, "kind": "one-stop"}
    for name in ("motcua-hoian", "motcua-hue", "motcua-quangnam")
]


@pytest.fixture(scope="module")
def settings_fast_path(
    committed_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    return Settings(database_url=committed_database_url, home=tmp_path_factory.mktemp("fast-home"))


@pytest.fixture(scope="module")
async def world(settings_fast_path: Settings) -> World:
    engine = create_engine(settings_fast_path, pool_size=2)
    try:
        built = await build_world(engine)
        async with session_factory(engine).begin() as session:
            await load_as_written(
                session=session,
                document={"agencies": AGENCIES, "purposes": SAMPLE_POLICY["purposes"],
                          "agreements": AGREEMENTS},
                actor="tests",
            )  # fmt: skip
        return built
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
async def deceased(settings_fast_path: Settings, world: World) -> str:
    """A resident who died on 2024-03-01: a prefill says so instead of filling the form, to
    an agency whose agreement gives the death."""
    engine = create_engine(settings_fast_path, pool_size=1)
    try:
        async with session_factory(engine).begin() as session:
            record = await factories.make_resident(
                session, full_name="Võ Văn Tám", deceased=True, deceased_on=date(2024, 3, 1)
            )
            return record.personal_id
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
async def apis(settings_fast_path: Settings, world: World) -> AsyncIterator[tuple[Api, Api]]:
    async for fast in running(settings_fast_path):
        generic_settings = settings_fast_path.model_copy(update={"graphql_plans": False})
        async for generic in running(generic_settings):
            yield fast, generic


def _requests(world: World, deceased: str) -> list[tuple[str, str, str, bool]]:
    """(agency, purpose, subject, whether the plan answers it itself)."""
    absent = factories.new_personal_id()
    return [
        ("motcua-danang", "CT01", deceased, True),  # no agreement gives the death: filled
        ("motcua-hoian", "CT01", deceased, True),  # the death, its date masked
        ("motcua-hue", "CT01", deceased, True),  # an unknown mask on the death: filled
        ("motcua-danang", "CT01", world.spouse, True),
        ("motcua-danang", "CT01", world.head, True),  # the head of their own household
        ("motcua-danang", "CT01", world.renamed, True),  # no household
        ("motcua-danang", "CT01", world.batch[0], True),
        ("motcua-danang", "CT01", absent, False),  # no row confirms the policy version
        ("motcua-hoian", "CT01", world.spouse, True),
        ("motcua-hoian", "CT01", world.head, True),
        ("motcua-hue", "CT01", world.spouse, True),
        ("motcua-quangnam", "CT01", world.spouse, False),
        ("bhxh-danang", "CT01", world.spouse, False),  # no CT01 agreement: refused whole
        ("motcua-danang", "CT01", "04808500012x", False),
        ("motcua-danang", "DKHKD", world.spouse, False),  # the form serves another purpose
    ]


def _access_log(settings: Settings, request_id: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(settings.libpq_url) as connection:
        return connection.execute(
            "SELECT agency, officer, purpose, legal_basis, subject_type, subject_id, operation, "
            "fields_given, fields_masked, fields_denied, decision FROM access_log "
            "WHERE request_id = %s ORDER BY seq",
            (request_id,),
        ).fetchall()


async def _answered_by_plan(api: Api) -> int:
    metrics = (await api.client.get("/metrics")).text
    return sum(int(n) for by, n in PLANS_METRIC.findall(metrics) if by == "plan")


async def test_fast_and_generic_paths_answer_byte_for_byte_alike(
    apis: tuple[Api, Api], world: World, settings_fast_path: Settings, deceased: str
) -> None:
    fast, generic = apis
    for agency, purpose, subject, planned in _requests(world, deceased):
        answers, logs = [], []
        before = await _answered_by_plan(fast)
        request_id = f"fp-{uuid.uuid4().hex}"  # the client's: both logs keep it alike
        for api in (fast, generic):
            answer = await api.prefill_ct01(
                subject,
                agency=agency,
                purpose=purpose,
                headers={"X-Request-Id": request_id, "X-Officer": "cb-7"},
            )
            answers.append((answer.status_code, answer.headers["content-type"], answer.content))
            logs.append(_access_log(settings_fast_path, answer.headers["X-Request-Id"]))
        case = (agency, purpose, subject)
        assert answers[0] == answers[1], case
        assert logs[0] == logs[1], case
        assert await _answered_by_plan(fast) - before == int(planned), case


def _batches(world: World) -> list[tuple[str, list[str], bool]]:
    """(agency, ids, whether the plan answers it itself) for ResidentsWithHouseholds."""
    absent = factories.new_personal_id()
    mixed = [world.spouse, absent, world.head, world.spouse, world.renamed, *world.batch[:5]]
    return [
        ("motcua-danang", world.batch, True),
        ("motcua-danang", mixed, True),  # absent, repeated, without household, same household
        ("motcua-danang", [], True),
        ("motcua-hoian", [world.spouse, world.head], False),  # refusals: the generic path's
        ("bhxh-danang", [world.spouse], False),
        ("motcua-danang", [world.spouse, "04808500012x"], False),
        ("motcua-danang", [world.spouse] * 101, False),
    ]


async def test_the_batch_plan_answers_byte_for_byte_alike(
    apis: tuple[Api, Api], world: World, settings_fast_path: Settings
) -> None:
    fast, generic = apis
    for agency, ids, planned in _batches(world):
        answers, logs = [], []
        before = await _answered_by_plan(fast)
        for api in (fast, generic):
            request_id = f"fb-{uuid.uuid4().hex}"
            body = {"operationName": "ResidentsWithHouseholds", "variables": {"ids": ids}}
            answer = await api.post(
                None, agency=agency, body=body, headers={"X-Request-Id": request_id}
            )
            answers.append((answer.status_code, answer.content))
            logs.append(_access_log(settings_fast_path, request_id))
        case = (agency, len(ids))
        assert answers[0] == answers[1], case
        assert logs[0] == logs[1], case
        assert await _answered_by_plan(fast) - before == int(planned), case


async def test_the_plan_covers_masked_and_denied_fields(
    apis: tuple[Api, Api], world: World
) -> None:
    fast, _ = apis
    answer = (await fast.prefill_ct01(world.spouse, agency="motcua-hoian")).json()
    fields = {f["key"]: f for f in answer["data"]["prefill"]["fields"]}
    assert fields["ho_ten"]["value"] == "L. T. H."
    assert fields["ngay_sinh"]["value"] == "1988"
    assert fields["noi_thuong_tru"]["value"] == "Thành phố Đà Nẵng"
    assert fields["dan_toc"]["value"] is None
    assert fields["dan_toc"]["missing"].startswith("not allowed to see Resident.ethnicity")
    assert fields["so_dinh_danh_chu_ho"]["value"] == "*" * 8 + world.head[-4:]
    assert fields["ho_ten_chu_ho"]["missing"].startswith("not allowed to see Household.head")
    refused = (await fast.prefill_ct01(world.spouse, agency="motcua-hue")).json()
    fields = {f["key"]: f for f in refused["data"]["prefill"]["fields"]}
    assert fields["gioi_tinh"]["missing"].endswith("the agreement's mask is unknown")
    assert fields["so_dinh_danh_chu_ho"]["missing"].startswith("not allowed to see household")


async def test_a_dead_persons_form_says_so_instead_of_being_filled(
    apis: tuple[Api, Api], deceased: str, settings_fast_path: Settings
) -> None:
    """Both executors: an agreement that gives the death (here its date masked to the year)
    gets "deceased on …" in every field and nothing else of the subject, and the log records
    the death alone; one that does not give it gets the form filled, the death unsaid."""
    for api in apis:
        answer = await api.prefill_ct01(deceased, agency="motcua-hoian")
        prefill = answer.json()["data"]["prefill"]
        assert {(f["value"], f["missing"], f["provenance"]) for f in prefill["fields"]} == {
            (None, "deceased on 2024", None)
        }
        log = _access_log(settings_fast_path, answer.headers["X-Request-Id"])
        assert [(row[5], row[7], row[8], row[9]) for row in log] == [
            (deceased, ["deceased"], ["deceasedOn"], [])
        ]
        filled = await api.prefill_ct01(deceased, agency="motcua-danang")
        fields = {f["key"]: f for f in filled.json()["data"]["prefill"]["fields"]}
        assert fields["ho_ten"]["value"] == "Võ Văn Tám"
        assert all("deceased" not in (f["missing"] or "") for f in fields.values())
        log = _access_log(settings_fast_path, filled.headers["X-Request-Id"])
        assert not {"deceased", "deceasedOn"} & {*log[0][7], *log[0][9]}


async def test_a_warm_prefill_or_batch_runs_one_statement_outside_the_orm(
    apis: tuple[Api, Api], world: World
) -> None:
    """A plan reads its subjects (one resident or a hundred), the subjects they reach and the
    policy version in one statement on the plans' pool; the guard needs none of its own."""
    fast, _ = apis
    await fast.prefill_ct01(world.spouse)  # warms the agreement cache
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    sync_engine = fast.app.state.engine.sync_engine
    batch = {"operationName": "ResidentsWithHouseholds", "variables": {"ids": world.batch}}
    event.listen(sync_engine, "before_cursor_execute", count)
    try:
        answer = await fast.prefill_ct01(world.spouse)
        residents = await fast.post(None, body=batch)
    finally:
        event.remove(sync_engine, "before_cursor_execute", count)
    assert answer.status_code == 200
    assert len(residents.json()["data"]["residents"]) == 100
    assert statements == []


def _shape(answer: httpx.Response) -> tuple[int, list[str], str, bytes]:
    """What a client sees of an answer, but for the request id each gateway draws itself."""
    return (
        answer.status_code,
        sorted(answer.headers.keys()),
        answer.headers["content-type"],
        re.sub(rb"[0-9a-f]{32}", b"<id>", answer.content),
    )


async def test_refusals_of_planned_documents_read_as_the_views(
    apis: tuple[Api, Api], world: World
) -> None:
    """The planned-documents shortcut answers before FastAPI and strawberry's view: its
    refusals (token, purpose, officer, an operation the document does not hold) carry the same
    status, headers and body as the view's."""
    fast, generic = apis
    prefill = {"operationName": "PrefillCT01", "variables": {"subject": world.spouse}}
    source = fast.app.state.services.trusted.named("PrefillCT01").source
    cases: list[tuple[dict[str, Any], dict[str, str]]] = [
        (prefill, {"Authorization": "Bearer not-a-token"}),
        (prefill, {"Authorization": ""}),
        (prefill, {"X-Purpose": "not a purpose"}),
        (prefill, {"X-Officer": "a b c"}),
        ({"query": source, "operationName": "Another", "variables": prefill["variables"]}, {}),
        ({"query": source, "variables": {"subject": 48}}, {}),
    ]
    statuses = []
    for body, headers in cases:
        shapes = []
        for api in (fast, generic):
            answer = await api.post(None, body=body, headers=headers)
            shapes.append(_shape(answer))
        assert shapes[0] == shapes[1], (body, headers)
        statuses.append(shapes[0][0])
    # an operationName naming no operation is a validation failure: 200 in application/json
    assert statuses == [401, 401, 200, 200, 200, 200]


async def test_what_the_shortcut_does_not_take_reaches_the_view_whole(
    apis: tuple[Api, Api], world: World
) -> None:
    """Bodies the shortcut leaves alone (malformed, a batch, which the view refuses, members of
    the wrong type, another content type) reach strawberry's view with their body intact: the
    same answers as a gateway without plans."""
    fast, generic = apis
    prefill = {"operationName": "PrefillCT01", "variables": {"subject": world.spouse}}
    bodies: list[tuple[bytes, str]] = [
        (b'{"operationName": "PrefillCT01", "variables": ', "application/json"),
        (json.dumps([prefill, prefill]).encode(), "application/json"),
        (json.dumps({**prefill, "variables": [world.spouse]}).encode(), "application/json"),
        (json.dumps(prefill).encode(), "text/plain"),
        (json.dumps({"query": "{ __typename }"}).encode(), "application/json"),
    ]
    statuses = []
    for content, content_type in bodies:
        shapes = []
        for api in (fast, generic):
            headers = {
                "Authorization": f"Bearer {api.token('motcua-danang')}",
                "X-Purpose": "CT01",
                "Content-Type": content_type,
            }
            answer = await api.client.post("/graphql", content=content, headers=headers)
            shapes.append(_shape(answer))
        assert shapes[0] == shapes[1], content
        statuses.append(shapes[0][0])
    assert statuses == [400, 400, 400, 415, 200]


RESIDENT_FIELDS = sorted(governed("Resident"))
HOUSEHOLD_FIELDS = sorted(governed("Household"))
# Mask kinds a generated agreement may put on a field (an unknown kind included: denied).
MASKABLE = {
    "fullName": ["initials"],
    "birthDate": ["year_only"],
    "permanentAddress": ["province_only"],
    "temporaryAddress": ["province_only"],
    "id": ["last4"],
    "headId": ["last4"],
    "household": ["initials"],  # a masked relation
    "sex": ["scramble"],
    "deceasedOn": ["year_only"],
    "deceased": ["scramble"],
}


@st.composite
def _agreement(draw: st.DrawFn, agency: str, type_name: str, universe: list[str]) -> Any:
    fields = draw(st.lists(st.sampled_from(universe), min_size=1, max_size=8, unique=True))
    masked = [f for f in fields if f in MASKABLE and draw(st.booleans())]
    return {
        **CT01,
        "agency": agency,
        "type": type_name,
        "fields": fields,
        "masking": {f: draw(st.sampled_from(MASKABLE[f])) for f in masked},
        "consent_required": draw(st.booleans()) if type_name == "Resident" else False,
        "via": draw(
            st.sampled_from(
                [None, ["Resident.household"]] if type_name == "Household"
                else [None, ["Household.head"], ["Household.members"]]
            )
        ),
    }  # fmt: skip


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_generated_policies_and_subjects_answer_alike_through_both_executors(
    apis: tuple[Api, Api],
    world: World,
    settings_fast_path: Settings,
    deceased: str,
    data: st.DataObject,
) -> None:
    """The differential test: for generated agreements (fields, masks, relations, consent) and
    generated subjects (present, absent, repeated, malformed), both trusted documents with plans
    answer byte for byte as the generic executor, with the same access-log rows."""
    fast, generic = apis
    agency = f"gen-{uuid.uuid4().hex[:12]}"
    agreements = [
        data.draw(_agreement(agency, "Resident", RESIDENT_FIELDS)),
        *data.draw(st.lists(_agreement(agency, "Household", HOUSEHOLD_FIELDS), max_size=1)),
    ]
    engine = create_engine(settings_fast_path, pool_size=1)
    try:
        async with session_factory(engine).begin() as session:
            await load_as_written(
                session=session,
                document={
                    "agencies": [{"client_id": agency, "name": agency, "kind": "one-stop"}],
                    "purposes": SAMPLE_POLICY["purposes"],
                    "agreements": agreements,
                },
                actor="tests",
            )
    finally:
        await engine.dispose()
    subjects = st.sampled_from(
        [world.spouse, world.head, world.renamed, world.batch[0], factories.new_personal_id(),
         "04808500012x", deceased]
    )  # fmt: skip
    if data.draw(st.booleans()):
        body = {"operationName": "PrefillCT01", "variables": {"subject": data.draw(subjects)}}
    else:
        ids = data.draw(st.lists(subjects, max_size=6))
        body = {"operationName": "ResidentsWithHouseholds", "variables": {"ids": ids}}
    answers, logs = [], []
    for api in (fast, generic):
        request_id = f"gen-{uuid.uuid4().hex}"
        answer = await api.post(
            None, agency=agency, body=body, headers={"X-Request-Id": request_id}
        )
        answers.append((answer.status_code, answer.content))
        logs.append(_access_log(settings_fast_path, request_id))
    assert answers[0] == answers[1], (agreements, body)
    assert logs[0] == logs[1], (agreements, body)

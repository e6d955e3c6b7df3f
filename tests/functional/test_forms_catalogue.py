"""Forms and their trusted documents across processes: a form a steward proposes and another
approves through one gateway process is in force in another from that process's next request,
without restart, in prod (trusted documents only), by hash, by name and on the compiled plans'
path; until approved, neither process runs it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from gateway.policy.service import load_policy_document
from lienthong.resources import SAMPLE_POLICY
from lienthong.settings import Settings
from registries.db import create_engine, session_factory
from tests import clients, factories
from tests.clients import Process


async def _save(
    process: Process, code: str, template: dict[str, Any], **kwargs: Any
) -> httpx.Response:
    """The form proposed by one steward and approved by another (four-eyes)."""
    proposed = await process.admin("PUT", f"/forms/{code}", json=template, **kwargs)
    if proposed.status_code != 202:
        return proposed
    return await process.admin("POST", f"/forms/{code}/approve", steward="steward-minh",
                               headers={"If-Match": proposed.headers["ETag"]})  # fmt: skip


@dataclass
class World:
    url: str
    resident: str
    a: Process
    b: Process


@pytest.fixture(scope="module")
async def world(
    committed_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[World]:
    home = tmp_path_factory.mktemp("forms-home")
    document = json.loads(SAMPLE_POLICY.read_text(encoding="utf-8"))
    settings = Settings(database_url=committed_database_url, home=home, officer_required=False)
    engine = create_engine(settings, pool_size=1)
    try:
        async with session_factory(engine).begin() as session:
            await load_policy_document(session=session, document=document, actor="etl")
            resident = await factories.make_resident(session, full_name="Trần Thị Mai")
    finally:
        await engine.dispose()
    async with clients.processes(settings) as (a, b):
        a.prod()  # trusted documents only, for agencies
        b.prod()
        yield World(committed_database_url, resident.personal_id, a, b)


async def _run(process: Process, body: dict[str, Any]) -> Any:
    return await process.graphql(body, purpose="CT01")


def _template(code_purpose: str, fields: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "title": "Tờ khai thử",
        "procedure": "Thủ tục thử",
        "purpose": code_purpose,
        "subject_type": "Resident",
        "fields": fields,
    }


def _values(answer: Any) -> dict[str, Any]:
    assert "errors" not in answer, answer
    return {f["key"]: f["value"] for f in answer["data"]["prefill"]["fields"]}


async def test_a_new_form_runs_in_another_process_by_hash_and_by_name(world: World) -> None:
    assert "PrefillTT01" not in await world.b.manifest()  # b has loaded its catalogue
    unknown = await _run(
        world.b, {"operationName": "PrefillTT01", "variables": {"subject": world.resident}}
    )
    assert unknown["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"

    fields = [{"key": "ho_ten", "label": "Họ và tên", "path": "fullName"}]
    proposed = await world.a.admin("PUT", "/forms/TT01", json=_template("CT01", fields))
    assert proposed.status_code == 202, proposed.text
    # proposed, not approved: no process runs it
    assert "PrefillTT01" not in await world.b.manifest()
    assert "PrefillTT01" not in await world.a.manifest()
    saved = await world.a.admin("POST", "/forms/TT01/approve", steward="steward-minh",
                                headers={"If-Match": proposed.headers["ETag"]})  # fmt: skip
    assert saved.status_code == 200, saved.text
    assert saved.json()["status"] == "approved"

    # b has not reloaded: its manifest, asked for, has the form's document
    operation = (await world.b.manifest())["PrefillTT01"]
    assert operation["id"] == hashlib.sha256(operation["body"].encode()).hexdigest()
    assert 'prefill(form: "TT01", subject: $subject)' in operation["body"]
    by_hash = await _run(
        world.b,
        {
            "variables": {"subject": world.resident},
            "extensions": {"persistedQuery": {"version": 1, "sha256Hash": operation["id"]}},
        },
    )
    assert _values(by_hash) == {"ho_ten": "Trần Thị Mai"}
    by_name = await _run(
        world.a, {"operationName": "PrefillTT01", "variables": {"subject": world.resident}}
    )
    assert _values(by_name) == {"ho_ten": "Trần Thị Mai"}


async def test_a_second_new_form_is_found_on_first_use_without_the_manifest(world: World) -> None:
    fields = [{"key": "ngay_sinh", "label": "Ngày sinh", "path": "birthDate"}]
    saved = await _save(world.a, "TT02", _template("CT01", fields))
    assert saved.status_code == 200, saved.text
    answer = await _run(
        world.b, {"operationName": "PrefillTT02", "variables": {"subject": world.resident}}
    )
    assert list(_values(answer)) == ["ngay_sinh"]


async def test_an_edited_form_is_answered_by_the_other_process_on_its_plan(
    world: World,
) -> None:
    prefill = {"operationName": "PrefillCT01", "variables": {"subject": world.resident}}
    before = _values(await _run(world.b, prefill))  # b's plan and policy cache are warm
    assert "ghi_chu_ho_ten" not in before
    read = await world.a.admin("GET", "/forms/CT01")
    template = {k: read.json()[k] for k in ("title", "procedure", "purpose", "subject_type",
                                             "fields")}  # fmt: skip
    template["fields"].append({"key": "ghi_chu_ho_ten", "label": "Họ tên", "path": "fullName"})
    saved = await _save(world.a, "CT01", template, headers={"If-Match": read.headers["ETag"]})
    assert saved.status_code == 200, saved.text
    after = _values(await _run(world.b, prefill))
    assert after["ghi_chu_ho_ten"] == "Trần Thị Mai"
    assert set(after) == set(before) | {"ghi_chu_ho_ten"}
    plans = world.b.app.state.services.metrics.plans
    assert plans.labels("PrefillCT01", "plan")._value.get() >= 1


async def test_a_form_whose_document_name_is_taken_is_refused(world: World) -> None:
    fields = [{"key": "ho_ten", "label": "Họ và tên", "path": "fullName"}]
    first = await _save(world.a, "TT_03", _template("CT01", fields))
    assert first.status_code == 200, first.text
    clash = await world.a.admin("PUT", "/forms/TT-03", json=_template("CT01", fields))
    body = clients.problem(clash, 422, "BAD_USER_INPUT")
    assert body["argument"] == "code", body
    assert "PrefillTT_03" in body["detail"]
    assert (await world.a.admin("GET", "/forms/TT-03")).status_code == 404


async def _propose(world: World, code: str, template: dict[str, Any]) -> str:
    proposed = await world.a.admin("PUT", f"/forms/{code}", json=template)
    assert proposed.status_code == 202, proposed.text
    return str(proposed.headers["ETag"])


async def _approve(world: World, code: str, etag: str) -> httpx.Response:
    return await world.a.admin(
        "POST", f"/forms/{code}/approve", steward="steward-minh", headers={"If-Match": etag}
    )


async def test_an_approval_checks_the_form_again_against_the_forms_then_in_force(
    world: World,
) -> None:
    """Two proposals whose documents would share a name each pass alone; the second approval
    finds the first in force and is refused, and nothing of it runs."""
    fields = [{"key": "ho_ten", "label": "Họ và tên", "path": "fullName"}]
    first = await _propose(world, "TT_06", _template("CT01", fields))
    second = await _propose(world, "TT-06", _template("CT01", fields))
    assert (await _approve(world, "TT_06", first)).status_code == 200
    clash = clients.problem(await _approve(world, "TT-06", second), 422, "BAD_USER_INPUT")
    assert clash["argument"] == "code"
    assert "PrefillTT_06" in clash["detail"]
    pending = await world.a.admin("GET", "/forms/TT-06")
    assert pending.json()["status"] == "proposed"
    assert pending.json()["pending"]["status"] == "submitted"


async def test_a_proposal_is_not_put_in_force_over_a_change_it_did_not_see(world: World) -> None:
    """The form in force changed after the proposal was made (here written past the admin API,
    as a deployment's file would): approving would undo that change unseen, so it is refused."""
    fields = [{"key": "ho_ten", "label": "Họ và tên", "path": "fullName"}]
    etag = await _propose(world, "TT05", _template("CT01", fields))
    written = {"code": "TT05", **_template("CT01", fields), "title": "Tờ khai đã có"}
    engine = create_engine(Settings(database_url=world.url, home=Path("/nonexistent")), pool_size=1)
    try:
        async with session_factory(engine).begin() as session:
            await session.execute(
                text(
                    "INSERT INTO form_templates (code, document, changed_by) "
                    "VALUES ('TT05', CAST(:document AS jsonb), 'test')"
                ),
                {"document": json.dumps(written)},
            )
    finally:
        await engine.dispose()
    refused = clients.problem(await _approve(world, "TT05", etag), 409, "CONFLICT")
    assert "changed since this proposal was made" in refused["detail"]
    in_force = await world.b.admin("GET", "/forms/TT05")
    assert in_force.json()["title"] == "Tờ khai đã có"
    assert in_force.json()["pending"]["status"] == "submitted"


async def test_a_catalogue_that_does_not_build_leaves_the_last_good_one(world: World) -> None:
    """A template the schema no longer fits (written past the admin API, as a deployment's
    schema change would leave one): processes keep the forms and documents they run. (Last in
    the module: the template it leaves in force fails every later build.)"""
    engine = create_engine(Settings(database_url=world.url, home=Path("/nonexistent")), pool_size=1)
    try:
        async with session_factory(engine).begin() as session:
            bad = _template("CT01", [{"key": "x", "label": "X", "path": "shoeSize"}])
            await session.execute(
                text(
                    "INSERT INTO form_templates (code, document, changed_by) "
                    "VALUES ('BAD1', CAST(:document AS jsonb), 'test')"
                ),
                {"document": json.dumps({"code": "BAD1", **bad})},
            )
    finally:
        await engine.dispose()
    manifest = await world.b.manifest()
    assert "PrefillBAD1" not in manifest
    # labelled with the version that failed: not tried again before the next change
    catalogues = world.b.app.state.services.catalogues
    failed = catalogues.current
    assert (await catalogues.moved()) is failed
    assert "PrefillTT01" in manifest
    answer = await _run(
        world.b, {"operationName": "PrefillTT01", "variables": {"subject": world.resident}}
    )
    assert _values(answer) == {"ho_ten": "Trần Thị Mai"}

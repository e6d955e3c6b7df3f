"""`decide_payload` against the real database: an event's payload for one subscription is the
subject's new version decided as a query would be (agreements, consents, masks, suspensions),
over the fields the event type reveals and the subject's key; None unless each is granted.

Everything is written in the test's rolled-back transaction: the decision reads it through the
same session (a `RequestDatabase` over it)."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.events.payloads import Decided, decide_payload, decide_payloads, payload_document
from gateway.graph.context import RequestDatabase
from gateway.graph.reference import ReferenceCache
from gateway.policy.embedded import EmbeddedEngine
from gateway.policy.models import Agency, Agreement, Subscription
from gateway.policy.service import AgreementCache, grant_consent, revoke_consent
from registries.events import EVENT_TYPES, ChangeEvent
from registries.history import supersede
from tests import factories
from tests.policy_worlds import load_as_written

_serial = itertools.count(1)
SINCE = "2025-07-01T00:00:00Z"
BASIS = "Luật Cư trú 2020"


def _agreement(agency: str, purpose: str, type_name: str, fields: list[str], **more: Any) -> Any:
    return {
        "agency": agency, "purpose": purpose, "type": type_name, "fields": fields,
        "legal_basis": BASIS, "consent_required": False, "via": None, "masking": {},
        "status": "approved", "valid_from": SINCE, "valid_to": None, **more,
    }  # fmt: skip


@pytest.fixture
async def world(session: AsyncSession) -> World:
    await load_as_written(session=session, document=POLICY)
    reference = ReferenceCache()
    await reference.load(session=session)
    return World(session, reference)


# Agencies of this module only: a social-insurance office (deaths, the year only; names;
# addresses but the temporary one), a bank that needs each resident's consent, a police office
# seeing households and members' names only, and a case-bound purpose.
POLICY: dict[str, Any] = {
    "agencies": [
        {"client_id": "ev-bhxh", "name": "BHXH (events)", "kind": "insurance"},
        {"client_id": "ev-bank", "name": "Ngân hàng (events)", "kind": "bank"},
        {"client_id": "ev-congan", "name": "Công an (events)", "kind": "police"},
    ],
    "purposes": [
        {"code": "EV-BHXH", "title": "Chi trả", "procedure": "Chi trả chế độ"},
        {"code": "EV-VAY", "title": "Vay", "procedure": "Thẩm định vay"},
        {"code": "EV-HO", "title": "Hộ", "procedure": "Quản lý hộ"},
        {"code": "EV-CASE", "title": "Hồ sơ", "procedure": "Một cửa", "case_bound": True},
    ],
    "agreements": [
        _agreement("ev-bhxh", "EV-BHXH", "Resident",
                   ["id", "fullName", "deceased", "deceasedOn", "permanentAddress"],
                   masking={"deceasedOn": "year_only"}),
        _agreement("ev-bank", "EV-VAY", "Resident", ["id", "fullName"], consent_required=True),
        _agreement("ev-congan", "EV-HO", "Household", ["id", "members"]),
        _agreement("ev-congan", "EV-HO", "Resident", ["fullName"], via=["Household.members"]),
        _agreement("ev-bhxh", "EV-CASE", "Resident", ["id", "fullName"]),
    ],
}  # fmt: skip


class World:
    def __init__(self, session: AsyncSession, reference: ReferenceCache) -> None:
        self.session = session
        self.reference = reference
        self.agreements = AgreementCache()
        self.engine = EmbeddedEngine()
        self.database = RequestDatabase(lambda: session)  # type: ignore[arg-type, return-value]

    async def event(self, event_type: str, subject: str, **values: Any) -> ChangeEvent:
        event = ChangeEvent(
            type=event_type,
            subject_type=EVENT_TYPES[event_type].subject_type,
            subject_id=subject,
            fields=list(EVENT_TYPES[event_type].reveals),
            subject_sequence=values.pop("subject_sequence", 2),
            effective_at=values.pop("effective_at", datetime.now(UTC)),
            source="etl:test",
            **values,
        )
        self.session.add(event)
        await self.session.flush()
        await self.session.refresh(event)
        return event

    async def decide(
        self, event: ChangeEvent, agency: str, purpose: str, **subscription: Any
    ) -> Decided | None:
        return await decide_payload(
            event=event,
            subscription=_subscription(agency, purpose, [event.type], **subscription),
            engine=self.engine,
            agreements=self.agreements,
            database=self.database,
            reference=self.reference,
        )


def _subscription(agency: str, purpose: str, types: list[str], **values: Any) -> Subscription:
    name = f"s{next(_serial)}"
    return Subscription(
        subscription_id=f"{agency}/{name}",
        agency=agency,
        purpose=purpose,
        name=name,
        event_types=types,
        status=values.pop("status", "approved"),
        approvals={},
        created_by="steward-lan",
        **values,
    )


async def _resident(world: World, **values: Any) -> Any:
    return await factories.make_resident(world.session, **values)


async def test_a_granted_event_carries_the_subject_and_only_what_its_type_reveals(
    world: World,
) -> None:
    resident = await _resident(world, full_name="Trần Thị Bình", birth_date=date(1979, 5, 4))
    event = await world.event("resident.name_changed", resident.personal_id,
                              new_version_id=resident.version_id, subject_sequence=3)  # fmt: skip
    decided = await world.decide(event, "ev-bhxh", "EV-BHXH")
    assert decided is not None
    assert orjson.loads(decided.payload) == decided.message
    assert decided.message == {
        "id": str(event.event_id),
        "type": "resident.name_changed",
        "subject": {"type": "Resident", "id": resident.personal_id},
        "sequence": 3,
        "effectiveAt": event.effective_at.astimezone(UTC).isoformat(),
        "recordedAt": event.recorded_at.astimezone(UTC).isoformat(),
        "data": {"fullName": "Trần Thị Bình"},
    }
    # the agreement gives the address and the death too: a name change reveals neither
    assert b"Tr\xe1\xba\xa7n Ph\xc3\xba" not in decided.payload  # 12 Trần Phú, the address line
    assert b"1979" not in decided.payload
    assert decided.fields_given == ("fullName", "id")
    assert decided.fields_masked == ()
    (entry,) = decided.disclosures(request_id="r1", channel="pull")
    assert (entry.agency, entry.subject_type, entry.subject_id, entry.purpose) == (
        "ev-bhxh", "resident", resident.personal_id, "EV-BHXH",
    )  # fmt: skip
    assert list(entry.fields_given) == ["fullName", "id"]
    assert entry.legal_basis == BASIS
    assert entry.decision["event"] == str(event.event_id)
    assert entry.decision["channel"] == "pull"
    assert entry.decision["outcome"] == "disclosed"


async def test_a_masked_field_is_sent_masked(world: World) -> None:
    resident = await _resident(world, deceased=True, deceased_on=date(2026, 11, 2))
    event = await world.event("resident.deceased", resident.personal_id,
                              new_version_id=resident.version_id)  # fmt: skip
    decided = await world.decide(event, "ev-bhxh", "EV-BHXH")
    assert decided is not None
    assert decided.message["data"] == {"deceased": True, "deceasedOn": "2026"}
    assert b"2026-11-02" not in decided.payload
    assert decided.fields_masked == ("deceasedOn",)
    assert decided.fields_given == ("deceased", "id")


async def test_a_type_revealing_a_field_the_agreement_lacks_is_never_sent(world: World) -> None:
    # the address change reveals the temporary address too, which ev-bhxh is not given
    resident = await _resident(world, temporary_commune_code=factories.HAI_CHAU,
                               temporary_address_line="7 Lê Lợi")  # fmt: skip
    event = await world.event("resident.address_changed", resident.personal_id,
                              new_version_id=resident.version_id)  # fmt: skip
    assert await world.decide(event, "ev-bhxh", "EV-BHXH") is None
    # nor to an agency whose agreement gives the name but not the death
    died = await _resident(world, deceased=True, deceased_on=date(2026, 1, 1))
    death = await world.event("resident.deceased", died.personal_id,
                              new_version_id=died.version_id)  # fmt: skip
    assert await world.decide(death, "ev-bhxh", "EV-CASE") is None


async def test_consent_based_agreements_send_only_what_the_subject_consented_to(
    world: World,
) -> None:
    resident = await _resident(world, full_name="Lê Văn Cường")
    event = await world.event("resident.name_changed", resident.personal_id,
                              new_version_id=resident.version_id)  # fmt: skip
    assert await world.decide(event, "ev-bank", "EV-VAY") is None  # no consent
    consent = await grant_consent(
        session=world.session, subject_id=resident.personal_id, agency="ev-bank",
        purpose="EV-VAY", fields=["fullName"], expires_at=datetime.now(UTC) + timedelta(days=30),
    )  # fmt: skip
    assert await world.decide(event, "ev-bank", "EV-VAY") is None  # the key is not consented
    await revoke_consent(session=world.session, consent_id=consent.consent_id,
                         subject_id=resident.personal_id)  # fmt: skip
    await grant_consent(
        session=world.session, subject_id=resident.personal_id, agency="ev-bank",
        purpose="EV-VAY", fields=["id", "fullName"],
        expires_at=datetime.now(UTC) + timedelta(days=30),
    )  # fmt: skip
    decided = await world.decide(event, "ev-bank", "EV-VAY")
    assert decided is not None
    assert decided.message["data"] == {"fullName": "Lê Văn Cường"}
    # another resident, who consented to nothing, is not sent
    other = await _resident(world)
    elsewhere = await world.event("resident.name_changed", other.personal_id,
                                  new_version_id=other.version_id)  # fmt: skip
    assert await world.decide(elsewhere, "ev-bank", "EV-VAY") is None


async def test_a_suspended_agreement_or_agency_sends_nothing(world: World) -> None:
    resident = await _resident(world)
    event = await world.event("resident.name_changed", resident.personal_id,
                              new_version_id=resident.version_id)  # fmt: skip
    assert await world.decide(event, "ev-bhxh", "EV-BHXH") is not None
    await supersede(session=world.session, model=Agency, key={"client_id": "ev-bhxh"},
                    values={"status": "suspended", "changed_by": "admin"})  # fmt: skip
    assert await world.decide(event, "ev-bhxh", "EV-BHXH") is None
    await supersede(session=world.session, model=Agency, key={"client_id": "ev-bhxh"},
                    values={"status": "active", "changed_by": "admin"})  # fmt: skip
    assert await world.decide(event, "ev-bhxh", "EV-BHXH") is not None
    await supersede(session=world.session, model=Agreement,
                    key={"agreement_id": "ev-bhxh/EV-BHXH/Resident"},
                    values={"status": "suspended", "note": "audit"})  # fmt: skip
    assert await world.decide(event, "ev-bhxh", "EV-BHXH") is None


@pytest.mark.parametrize(
    ("purpose", "subscription"),
    [
        ("EV-BHXH", {"status": "suspended"}),
        ("EV-BHXH", {"status": "submitted"}),
        ("EV-BHXH", {"event_types": ["resident.deceased"]}),  # not of this type
        ("EV-CASE", {}),  # case-bound: no dossier binds a subscription
    ],
)
async def test_a_subscription_not_in_force_for_the_event_is_sent_nothing(
    world: World, purpose: str, subscription: dict[str, Any]
) -> None:
    resident = await _resident(world)
    event = await world.event("resident.name_changed", resident.personal_id,
                              new_version_id=resident.version_id)  # fmt: skip
    types = subscription.pop("event_types", [event.type])
    decided = await decide_payload(
        event=event,
        subscription=_subscription("ev-bhxh", purpose, types, **subscription),
        engine=world.engine,
        agreements=world.agreements,
        database=world.database,
        reference=world.reference,
    )
    assert decided is None


async def test_an_event_whose_version_is_not_the_subjects_is_sent_nothing(world: World) -> None:
    resident = await _resident(world)
    other = await _resident(world)
    event = await world.event("resident.name_changed", resident.personal_id,
                              new_version_id=other.version_id)  # fmt: skip
    assert await world.decide(event, "ev-bhxh", "EV-BHXH") is None


async def test_related_subjects_are_decided_on_their_own_and_refused_fields_left_out(
    world: World,
) -> None:
    head = await _resident(world, full_name="Phạm Văn Dũng", relationship_to_head="head")
    household = await factories.make_household(world.session, head=head)
    await supersede(session=world.session, model=type(head), key={"personal_id": head.personal_id},
                    values={"household_id": household.household_id})  # fmt: skip
    member = await _resident(world, full_name="Phạm Thị Em", household_id=household.household_id,
                             relationship_to_head="child")  # fmt: skip
    event = await world.event("household.member_added", household.household_id,
                              new_version_id=member.version_id)  # fmt: skip
    decided = await world.decide(event, "ev-congan", "EV-HO")
    assert decided is not None
    assert decided.message["subject"] == {"type": "Household", "id": household.household_id}
    # members' names through Household.members; their ids and relationships are not given
    assert decided.message["data"] == {
        "members": [{"resident": {"fullName": "Phạm Văn Dũng"}},
                    {"resident": {"fullName": "Phạm Thị Em"}}],
    }  # fmt: skip
    assert member.personal_id.encode() not in decided.payload
    logged = {d.subject_id: d for d in decided.disclosures(request_id="r", channel="push")}
    assert list(logged[household.household_id].fields_given) == ["id", "members"]
    assert list(logged[member.personal_id].fields_given) == ["fullName"]
    assert set(logged[member.personal_id].fields_denied) == {"id", "relationshipToHead"}
    assert logged[member.personal_id].decision["event"] == str(event.event_id)


async def test_events_decided_together_are_each_what_they_are_alone_and_logged_apart(
    world: World,
) -> None:
    """A worker decides a page of events at once: each answer is the one its event would get
    alone (a refused subject None, in its place), and each payload's log holds its own
    subject only, even when two events are of the same subject."""
    consented, refused = await _resident(world), await _resident(world)
    await grant_consent(
        session=world.session, subject_id=consented.personal_id, agency="ev-bank",
        purpose="EV-VAY", fields=["id", "fullName"],
        expires_at=datetime.now(UTC) + timedelta(days=30),
    )  # fmt: skip
    events = [
        await world.event("resident.name_changed", resident.personal_id,
                          new_version_id=resident.version_id, subject_sequence=sequence)
        for resident, sequence in ((consented, 2), (refused, 2), (consented, 3))
    ]  # fmt: skip
    subscription = _subscription("ev-bank", "EV-VAY", ["resident.name_changed"])
    together = await decide_payloads(
        events=events, subscription=subscription, engine=world.engine,
        agreements=world.agreements, database=world.database, reference=world.reference,
    )  # fmt: skip
    alone = [
        await decide_payload(
            event=event,
            subscription=subscription,
            engine=world.engine,
            agreements=world.agreements,
            database=world.database,
            reference=world.reference,
        )
        for event in events
    ]
    assert [d is None for d in together] == [False, True, False]
    assert [d and d.payload for d in together] == [d and d.payload for d in alone]
    for event, decided in zip(events, together, strict=True):
        if decided is None:
            continue
        assert decided.message["id"] == str(event.event_id)
        assert decided.subscription_id == subscription.subscription_id
        (entry,) = decided.disclosures(request_id="r", channel="push")
        assert entry.subject_id == consented.personal_id
        assert entry.decision["event"] == str(event.event_id)
        assert list(entry.fields_given) == ["fullName", "id"]


def test_each_type_has_a_document_asking_what_it_reveals_and_the_key() -> None:
    assert payload_document("resident.deceased") == "{ resident { id deceased deceasedOn } }"
    assert payload_document("enterprise.representative_changed") == (
        "{ enterprise { code legalRepresentatives { title resident { id fullName } } } }"
    )
    for name in EVENT_TYPES:
        assert payload_document(name).startswith("{ ")

"""Change events: the outbox every registry change writes in its own transaction, and the one
declaration of the event types.

Invariants:
- an event is written by the transaction that made the change, or not at all (an outbox): a
  subscriber never hears of a change that was rolled back, nor misses one that committed;
- the table is appended to, never rewritten (the application role may only INSERT and SELECT);
- an event type names its subject type, the registry columns whose change makes it, and the
  GraphQL fields it reveals: a subscriber receives a type only if its agreement grants every
  field the type reveals (a death, a move are personal data by themselves);
- `subject_sequence` counts the subject's versions up to this change: receivers order pushed
  events by it and skip stale ones; the pull feed's `(txid, seq)` order is the ordered truth.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Identity, Index, Text, Uuid, func, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from registries.db import Base


class ChangeEvent(Base):
    __tablename__ = "change_events"
    __table_args__ = (
        Index("ix_change_events_feed", "txid", "seq"),
        Index("ix_change_events_subject", "subject_type", "subject_id", "seq"),
    )

    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    event_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, unique=True, server_default=text("gen_random_uuid()")
    )
    txid: Mapped[int] = mapped_column(
        BigInteger, server_default=text("(pg_current_xact_id()::text)::bigint")
    )
    type: Mapped[str] = mapped_column(Text)
    subject_type: Mapped[str] = mapped_column(Text)  # the GraphQL type: Resident, Parcel, …
    subject_id: Mapped[str] = mapped_column(Text)
    fields: Mapped[list[str]] = mapped_column(ARRAY(Text))  # GraphQL fields that changed
    old_version_id: Mapped[int | None] = mapped_column(BigInteger)
    new_version_id: Mapped[int | None] = mapped_column(BigInteger)
    subject_sequence: Mapped[int] = mapped_column(BigInteger)
    effective_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    recorded_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    source: Mapped[str] = mapped_column(Text)  # etl:<run>, bulk:<run>, steward:<sub>


@dataclass(frozen=True)
class EventType:
    name: str
    subject_type: str  # the GraphQL type of the subject it is about
    table: str  # the registry table whose versions make it
    columns: tuple[str, ...]  # a change of any of these (old version → new) makes the event
    reveals: tuple[str, ...]  # the GraphQL fields an agreement must grant to receive it


EVENT_TYPES: dict[str, EventType] = {
    kind.name: kind
    for kind in (
        EventType(
            "resident.address_changed", "Resident", "residents",
            ("permanent_commune_code", "permanent_address_line", "temporary_commune_code",
             "temporary_address_line"),
            ("permanentAddress", "temporaryAddress"),
        ),
        EventType("resident.name_changed", "Resident", "residents", ("full_name",),
                  ("fullName",)),
        EventType("resident.deceased", "Resident", "residents", ("deceased",),
                  ("deceased", "deceasedOn")),
        EventType("household.member_added", "Household", "residents", ("household_id",),
                  ("members",)),
        EventType("household.member_removed", "Household", "residents", ("household_id",),
                  ("members",)),
        EventType("enterprise.status_changed", "Enterprise", "enterprises", ("status",),
                  ("status",)),
        EventType("enterprise.representative_changed", "Enterprise", "enterprise_representatives",
                  ("personal_id", "title"), ("legalRepresentatives",)),
        EventType("parcel.rights_changed", "Parcel", "parcel_rights",
                  ("holder_kind", "holder_id", "kind", "share_percent"), ("rights",)),
    )
}  # fmt: skip

"""Imports every module that maps tables, so Base.metadata is complete (alembic, tests)."""

# ruff: noqa: F401
import etl.models
import gateway.alerts.models
import gateway.audit.models
import gateway.corrections.models
import gateway.dossiers.models
import gateway.events.models
import gateway.policy.models
import gateway.quota.models
import registries.enterprises.models
import registries.events
import registries.parcels.models
import registries.reference.models
import registries.residents.models

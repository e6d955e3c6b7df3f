"""Authoritative registries: residents, households, enterprises, land parcels, reference data."""

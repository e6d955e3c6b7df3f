"""Agencies' subscriptions to change events, reviewed like agency documents."""

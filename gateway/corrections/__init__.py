"""Corrections at the source: citizens' reports of wrong registry values, the disputes they
open, and their resolution by the registry's stewards and the source agency
(docs/corrections.md)."""

"""Where the files the code reads at run time live: Rego policies, prefill forms, trusted
documents, the exported schema and the sample policy.

Invariants:
- one copy of each file: in a source checkout (and an editable install) they are the
  repository's own folders, read in place; a built wheel carries the same files, copied at
  build time (setup.py), under the installed package's `share/`;
- the installed copy wins when it exists, so an installed gateway never reads a checkout that
  happens to sit nearby, whatever the working directory.
"""

from __future__ import annotations

from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent
INSTALLED = Path(__file__).resolve().parent / "share"
SHARE = INSTALLED if INSTALLED.is_dir() else CHECKOUT

# The folders and files, relative to SHARE; the build copies exactly these (setup.py).
SHARED = ("policies", "graphql/forms", "graphql/operations", "graphql/schema.graphql",
          "infra/sample/policy.json")  # fmt: skip

POLICIES_DIR = SHARE / "policies"
FORMS_DIR = SHARE / "graphql" / "forms"
OPERATIONS_DIR = SHARE / "graphql" / "operations"
SCHEMA_FILE = SHARE / "graphql" / "schema.graphql"
SAMPLE_POLICY = SHARE / "infra" / "sample" / "policy.json"

"""The demo's sign-in users for the OIDC stand-in (tests/oidc/server.mjs): the stewards of
infra/demo/users.json and, as citizens, the first residents of the sample `make demo` loaded
(their personal ID is their username and their `citizen_id`). Writes them to OUT and prints who
can sign in where.

    python infra/demo/users.py .lienthong/sample/residents.csv .lienthong/sample/oidc-users.json
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any

CITIZEN_PASSWORD = "citizen-demo"  # noqa: S105 - the demo stand-in's, printed by `make demo`
CITIZENS = 3


def demo_users(residents: Path, citizens: int = CITIZENS) -> list[dict[str, Any]]:
    stewards = json.loads((Path(__file__).parent / "users.json").read_text(encoding="utf-8"))
    people: list[dict[str, Any]] = []
    with residents.open(encoding="utf-8", newline="") as rows:
        for row in csv.DictReader(rows):
            if len(people) == citizens:
                break
            people.append({
                "username": row["personal_id"], "password": CITIZEN_PASSWORD,
                "name": row.get("full_name") or row["personal_id"], "roles": ["citizen"],
                "claims": {"citizen_id": row["personal_id"]},
            })  # fmt: skip
    return [*stewards, *people]


def main(residents: Path, out: Path, base: str) -> None:
    users = demo_users(residents)
    out.write_text(json.dumps(users, ensure_ascii=False, indent=1), encoding="utf-8")
    lines = [f"Stewards sign in at {base}/console (username / password, roles):"]
    lines += [
        f"  {u['username']} / {u['password']}  ({', '.join(u['roles'])})"
        for u in users
        if "citizen" not in u["roles"]
    ]
    lines.append(f"Citizens sign in at {base}/me (personal ID / password):")
    lines += [f"  {u['username']} / {u['password']}" for u in users if "citizen" in u["roles"]]
    print("\n".join(lines))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else "")

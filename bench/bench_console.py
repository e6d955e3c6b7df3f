"""Console pages rendered server-side over a full registry and access log:
`python -m bench console [--residents=N] [--log-rows=N] [--requests=N] [--keep]`.

In one run, on a scratch database of the embedded cluster (or LIENTHONG_DATABASE_URL's server):
  1. N residents (default 1,000,000) through the real ETL (`lienthong etl synth`, `lienthong
     etl load residents`) and the sample agreements (`lienthong etl load agreements`);
  2. a few consents of the bench's citizen and of other residents, by the consent service;
  3. --log-rows access-log entries (default 1,000,000) written by the gateway's own writer
     (gateway/audit/writer.py: hash-chained, with the chain heads and the daily counts), its
     clock set back so that they spread evenly over the last 30 days: the four sample agencies
     and their purposes, stewards' oversight reads, disclosures, refusals with the policy's
     reasons and lookups of absent keys, about 100,000 residents — and a few thousand entries
     about the bench's citizen; then the chains are verified (`lienthong audit verify`'s walk)
     and the database analysed;
  4. `lienthong serve` on that database, and a steward's and a citizen's signed session cookies
     (what the OIDC sign-in leaves in the browser: gateway/console/sessions.py) — every check of
     the pages runs, and those that show personal data write their access-log entry;
  5. each main page: a warm-up, then --requests sequential requests (default 100) each, the
     pages taking turns, over HTTP on loopback: the dashboard, agreements, approvals, purposes,
     forms, a form and its preview for the citizen (the form's POST, as the browser sends it),
     agency documents, explain for the citizen, agencies, alerts, consents searched by subject,
     ETL runs, the access log searched by agency and by subject, and the citizen's log and
     consents at /me.
Prints p50, p95 and max per page against the issue's target (p95 under 100 ms), and the
server's first request of each page (its caches cold; not counted), and writes
.lienthong/bench/console.json. `--keep` keeps the database (its URL is printed);
`LIENTHONG_BENCH_DATABASE` reuses one kept earlier instead of building a new one.
"""

from __future__ import annotations

import asyncio
import html
import json
import os
import random
import re
import secrets
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
import psycopg
from fastapi import Response
from pydantic import SecretStr

from bench.bench_etl import _drop, _option, _scratch_database
from bench.bench_http import SAMPLE_POLICY, _etl
from bench.http import servers
from gateway.audit import writer as audit_writer
from gateway.audit.verify import verify
from gateway.audit.writer import AccessLogWriter, Disclosure
from gateway.console.sessions import ConsoleSession, Cookies
from gateway.policy.service import grant_consent
from lienthong.cluster import EmbeddedCluster
from lienthong.settings import Settings
from registries.db import create_engine, session_factory
from tests.net import free_port

TARGET_P95_MS = 100.0  # the target, per page
DAYS = 30  # the log spreads over this many days up to now
BATCH = 1000  # entries per write: the writer's largest group commit
CITIZEN_ROWS = 3000  # entries about the bench's citizen
LOGGED_RESIDENTS = 100_000  # residents the log's entries are about
WARM_UP = 5  # requests of each page not counted
STEWARD_ROLES = ("steward", "steward:population")
# Who reads what, how often (the weights), and what each agency's agreements give
ReadKind = tuple[str, str, str, tuple[str, ...], int]
READS: tuple[ReadKind, ...] = (
    ("motcua-danang", "CT01", "resident",
     ("birthDate", "fullName", "household", "permanentAddress", "sex"), 40),
    ("motcua-danang", "DKHKD", "resident", ("birthDate", "fullName", "permanentAddress"), 10),
    ("thue-hcm", "DKKD", "resident", ("fullName",), 20),
    ("tainguyen-danang", "CPXD", "resident", ("fullName", "recordVersion"), 15),
    ("nganhang-abc", "TD-VAY", "resident", ("birthDate", "fullName", "permanentAddress"), 10),
    ("steward-console", "oversight", "resident", (), 5),
)  # fmt: skip
REASONS = (
    "no agreement in force or consent covers this subject for this purpose",
    "not allowed for this purpose",
    "the subject's consent does not cover this field",
)
LEGAL_BASIS = {
    "CT01": "Luật Cư trú 2020; Nghị định 62/2021/NĐ-CP, Điều 13",
    "DKHKD": "Nghị định 01/2021/NĐ-CP, Điều 87",
    "DKKD": "Luật Quản lý thuế 2019, Điều 97",
    "CPXD": "Luật Xây dựng 2014 (sửa đổi 2020), Điều 95",
    "TD-VAY": "Luật Bảo vệ dữ liệu cá nhân 2025: sự đồng ý của chủ thể dữ liệu",
}


def _progress(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", flush=True)


# -- the data ------------------------------------------------------------------------------------


def _residents(url: str, residents: int, folder: Path) -> None:
    _progress(f"synthesising {residents:,} residents ...")
    out = folder / "synth"
    _etl(url, "etl", "synth", "--out", str(out), "--residents", str(residents),
         "--enterprises", "0", "--parcels", "0", "--seed", "1")  # fmt: skip
    _progress(f"loading {residents:,} residents through the ETL ...")
    _etl(url, "etl", "load", "residents", str(out / "residents.csv"))
    _etl(url, "etl", "load", "agreements", str(SAMPLE_POLICY))
    shutil.rmtree(out)


def _sample(url: str, count: int) -> list[str]:
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "SELECT personal_id FROM residents WHERE valid_to IS NULL "
            "ORDER BY md5(personal_id) LIMIT %s",
            (count,),
        ).fetchall()
    return [str(row[0]) for row in rows]


async def _consents(url: str, citizen: str, others: list[str]) -> None:
    """The citizen's consent to the bank, and the bank's consents from other residents, by the
    consent service (its rule checked as for any citizen)."""
    engine = create_engine(Settings(database_url=url), pool_size=1)
    fields = ("fullName", "birthDate", "permanentAddress")
    expires = datetime.now(UTC) + timedelta(days=180)
    try:
        async with session_factory(engine).begin() as session:
            for subject in (citizen, *others):
                await grant_consent(session=session, subject_id=subject, agency="nganhang-abc",
                                    purpose="TD-VAY", fields=fields,
                                    expires_at=expires)  # fmt: skip
    finally:
        await engine.dispose()


@dataclass(frozen=True)
class LogPlan:
    rows: int
    citizen: str
    subjects: list[str]
    seed: int = 1

    def batches(self, now: datetime) -> Iterator[tuple[datetime, list[Disclosure]]]:
        """Batches of entries in time order (a chain's entries never go back in time), spread
        evenly over the last DAYS days; the citizen's entries spread among them."""
        pick = random.Random(self.seed)  # synthetic data, not security
        kinds = [kind for kind in READS for _ in range(kind[4])]
        count = -(-self.rows // BATCH)
        start = now - timedelta(days=DAYS)
        step = (now - timedelta(minutes=1) - start) / count
        citizen_every = max(1, self.rows // CITIZEN_ROWS)
        written = 0
        for number in range(count):
            size = min(BATCH, self.rows - written)
            entries = []
            for offset in range(size):
                n = written + offset
                subject = self.citizen if n % citizen_every == 0 else pick.choice(self.subjects)
                entries.append(_entry(pick, pick.choice(kinds), subject, n))
            written += size
            yield start + step * (number + 0.5), entries


def _entry(pick: random.Random, kind: ReadKind, subject: str, n: int) -> Disclosure:
    agency, purpose, subject_type, fields, _ = kind
    request_id = f"bench-{n:08d}"
    if purpose == "oversight":
        return Disclosure(
            request_id=request_id, agency=agency, subject_type=subject_type,
            subject_id=subject, officer=None, purpose="oversight", operation="GET /admin/audit",
            decision={"outcome": "oversight", "read": "audit.search", "returned": 20,
                      "roles": list(STEWARD_ROLES)},
        )  # fmt: skip
    draw = pick.random()
    officer = f"cb-{pick.randrange(200):03d}"
    roles = ["agency"]
    if draw < 0.05:  # a lookup of a key the registry does not hold
        return Disclosure(
            request_id=request_id, agency=agency, subject_type=subject_type,
            subject_id=f"{pick.randrange(10**12):012d}", officer=officer, purpose=purpose,
            operation="PrefillCT01", decision={"outcome": "absent", "reasons": {},
                                               "roles": roles},
        )  # fmt: skip
    if draw < 0.15:  # refused whole: every field with the policy's reason
        reason = REASONS[pick.randrange(len(REASONS))]
        return Disclosure(
            request_id=request_id, agency=agency, subject_type=subject_type,
            subject_id=subject, officer=officer, purpose=purpose, operation="PrefillCT01",
            fields_denied=sorted(fields),
            decision={"outcome": "refused", "reasons": dict.fromkeys(fields, reason),
                      "roles": roles},
        )  # fmt: skip
    denied = ("deceased",) if draw < 0.25 else ()
    return Disclosure(
        request_id=request_id, agency=agency, subject_type=subject_type, subject_id=subject,
        officer=officer, purpose=purpose, legal_basis=LEGAL_BASIS[purpose],
        operation="PrefillCT01", fields_given=sorted(fields), fields_denied=denied,
        decision={"outcome": "disclosed", "roles": roles,
                  "reasons": dict.fromkeys(denied, "not allowed for this purpose"),
                  "officer": {"id": officer, "verified": "assertion"}},
    )  # fmt: skip


class _Clock(datetime):
    """The writer's clock, set back to each batch's time (it stamps a batch when it writes)."""

    at: datetime = datetime.now(UTC)

    @classmethod
    def now(cls, tz: Any = None) -> _Clock:
        return cls.fromtimestamp(cls.at.timestamp(), tz)


async def _write_log(url: str, plan: LogPlan) -> None:
    """The entries through the gateway's writer: chained, durable, counted, as in production."""
    writer = AccessLogWriter(url, max_batch=BATCH)
    started, written = time.perf_counter(), 0
    with mock.patch.object(audit_writer, "datetime", _Clock):
        await writer.start()
        try:
            for at, entries in plan.batches(datetime.now(UTC)):
                _Clock.at = at
                await writer.record(entries)
                written += len(entries)
                if written % 100_000 < BATCH:
                    rate = written / (time.perf_counter() - started)
                    _progress(f"  {written:,} access-log entries written ({rate:,.0f}/s)")
        finally:
            await writer.stop()


def _build(url: str, residents: int, log_rows: int, folder: Path) -> dict[str, Any]:
    """The registry, the consents and the access log; what the bench then reads."""
    _residents(url, residents, folder)
    sample = _sample(url, LOGGED_RESIDENTS + 21)
    citizen, others, subjects = sample[0], sample[1:21], sample[21:]
    _progress("recording consents ...")
    asyncio.run(_consents(url, citizen, others))
    _progress(f"writing {log_rows:,} access-log entries through the gateway's writer ...")
    asyncio.run(_write_log(url, LogPlan(rows=log_rows, citizen=citizen, subjects=subjects)))
    _progress("VACUUM ANALYZE ...")
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE")
    return {"citizen": citizen}


def _citizen_of(url: str) -> str:
    """The citizen a kept database was built for: the one most entries are about."""
    with psycopg.connect(url) as connection:
        row = connection.execute(
            "SELECT subject_id FROM access_log WHERE subject_type = 'resident' "
            "AND decision->>'outcome' <> 'absent' GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
        ).fetchone()
    if row is None:
        raise SystemExit("the database has no access log: build one (no LIENTHONG_BENCH_DATABASE)")
    return str(row[0])


def _sizes(url: str) -> dict[str, int]:
    with psycopg.connect(url) as connection:
        residents = connection.execute(
            "SELECT count(*) FROM residents WHERE valid_to IS NULL"
        ).fetchone()
        entries = connection.execute("SELECT count(*) FROM access_log").fetchone()
    return {"residents": int(residents[0]) if residents else 0,
            "access_log_entries": int(entries[0]) if entries else 0}  # fmt: skip


# -- the pages -----------------------------------------------------------------------------------


@dataclass
class Page:
    name: str
    path: str
    expect: str  # a piece of the answer that says the page shows what was asked
    form: dict[str, str] | None = None  # posted (a form's preview), else a GET
    first_ms: float = 0.0  # the server's first request of the page (warm-up, not counted)
    timings_ms: list[float] = field(default_factory=list)


def _pages(citizen: str) -> list[Page]:
    explain = (
        "/console/explain?agency=motcua-danang&purpose=CT01&type=Resident"
        f"&subject={citizen}&field=fullName&field=birthDate&field=deceased&ask=1"
    )
    return [
        Page("dashboard", "/console/", 'id="chain"'),
        Page("agreements", "/console/agreements", "motcua-danang"),
        Page("approvals", "/console/approvals", "</main>"),
        Page("purposes", "/console/purposes", "CT01"),
        Page("forms", "/console/forms", "CT01"),
        Page("form CT01", "/console/forms/CT01", "fullName"),
        Page("form preview", "/console/forms/CT01", citizen, form={}),
        Page("documents", "/console/documents", "</main>"),
        Page("explain", explain, "Luật Cư trú"),
        Page("agencies", "/console/agencies", "nganhang-abc"),
        Page("alerts", "/console/alerts", "</main>"),
        Page("consents by subject", f"/console/consents?subject_id={citizen}", "TD-VAY"),
        Page("etl runs", "/console/etl", "residents"),
        Page("audit by agency", "/console/audit?agency=thue-hcm", "thue-hcm"),
        Page(
            "audit by subject",
            f"/console/audit?subject_type=resident&subject_id={citizen}",
            citizen,
        ),
        Page("me: my log", "/me/", "nganhang-abc"),
        Page("me: my consents", "/me/consents", "TD-VAY"),
    ]


def _cookie(secret: str, *, citizen: str | None) -> tuple[str, ConsoleSession]:
    """A session cookie as the sign-in callback sets it (gateway/console/auth.py), signed with
    the server's session secret."""
    settings = Settings(console_session_secret=SecretStr(secret))
    cookies = Cookies(settings, secret)
    session = ConsoleSession(
        subject=f"bench-{'citizen' if citizen else 'steward'}",
        agency="citizen-portal" if citizen else "steward-console",
        roles=("citizen",) if citizen else STEWARD_ROLES,
        citizen_id=citizen, name="Bench", csrf=secrets.token_urlsafe(32),
        expires_at=int(time.time()) + 6 * 3600,
    )  # fmt: skip
    response = Response()
    cookies.start(response, session)
    value = response.headers["set-cookie"].split(";", 1)[0].split("=", 1)[1]
    return value, session


def _preview_form(http: httpx.Client, csrf: str, citizen: str) -> dict[str, str]:
    """The preview's form as the browser posts it: the form in force's template and ETag from
    its page, the subject and the agency."""
    page = http.get("/console/forms/CT01")
    template = re.search(r'<textarea id="template"[^>]*>(.*?)</textarea>', page.text, re.S)
    etag = re.search(r'name="etag" value="([^"]*)"', page.text)
    if page.status_code != 200 or template is None:
        raise SystemExit(f"/console/forms/CT01 answered {page.status_code}: {page.text[:500]}")
    return {"csrf": csrf, "etag": etag.group(1) if etag else "", "do": "preview",
            "template": html.unescape(template.group(1)), "agency": "motcua-danang",
            "subject": citizen}  # fmt: skip


def _request(http: httpx.Client, page: Page) -> float:
    started = time.perf_counter()
    answer = http.get(page.path) if page.form is None else http.post(page.path, data=page.form)
    elapsed = (time.perf_counter() - started) * 1000
    if answer.status_code != 200 or page.expect not in answer.text:
        raise SystemExit(
            f"{page.name}: {page.path} answered {answer.status_code} without {page.expect!r}:\n"
            + re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", answer.text))[:1500]
        )
    return elapsed


def _measure(base: str, pages: list[Page], citizen: str, secret: str, requests: int) -> None:
    steward_cookie, steward = _cookie(secret, citizen=None)
    citizen_cookie, _ = _cookie(secret, citizen=citizen)
    with (
        httpx.Client(base_url=base, cookies={"lt-console": steward_cookie}, timeout=60) as stewards,
        httpx.Client(base_url=base, cookies={"lt-console": citizen_cookie}, timeout=60) as citizens,
    ):
        for page in pages:
            if page.form is not None:
                page.form = _preview_form(stewards, steward.csrf, citizen)

        def client(page: Page) -> httpx.Client:
            return citizens if page.path.startswith("/me") else stewards

        _progress(f"warming up: {WARM_UP} requests of each page ...")
        for page in pages:
            page.first_ms = _request(client(page), page)
        for _ in range(WARM_UP - 1):
            for page in pages:
                _request(client(page), page)
        _progress(f"measuring: {requests} requests of each page, the pages taking turns ...")
        for _ in range(requests):
            for page in pages:
                page.timings_ms.append(_request(client(page), page))


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def _report(pages: list[Page]) -> dict[str, dict[str, Any]]:
    results = {}
    print(f"{'page':<22}{'first ms':>9}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}"
          f"  target: p95 < {TARGET_P95_MS:.0f} ms")  # fmt: skip
    for page in pages:
        p95 = _percentile(page.timings_ms, 0.95)
        figures = {
            "path": page.path,
            "method": "POST" if page.form is not None else "GET",
            "requests": len(page.timings_ms),
            "first_ms": round(page.first_ms, 1),
            "p50_ms": round(statistics.median(page.timings_ms), 1),
            "p95_ms": round(p95, 1),
            "max_ms": round(max(page.timings_ms), 1),
            "meets_target": p95 < TARGET_P95_MS,
        }
        results[page.name] = figures
        verdict = "ok" if figures["meets_target"] else "MISSES"
        print(f"{page.name:<22}{figures['first_ms']:>9}{figures['p50_ms']:>9}"
              f"{figures['p95_ms']:>9}{figures['max_ms']:>9}  {verdict}")  # fmt: skip
    return results


@contextmanager
def _database(
    settings: Settings, options: dict[str, int], folder: Path, keep: bool
) -> Iterator[str]:
    reuse = os.environ.get("LIENTHONG_BENCH_DATABASE", "")
    if reuse:
        yield reuse
        return
    url = _scratch_database(settings)
    try:
        _build(url, options["residents"], options["log_rows"], folder)
        yield url
    finally:
        if keep:
            print(f"kept the database: LIENTHONG_BENCH_DATABASE={url}")
        else:
            _drop(settings, url)


def main(argv: list[str]) -> None:
    options = {
        "residents": _option(argv, "--residents", 1_000_000),
        "log_rows": _option(argv, "--log-rows", 1_000_000),
        "requests": _option(argv, "--requests", 100),
    }
    keep = "--keep" in argv
    settings = Settings()
    if settings.uses_embedded_database:
        EmbeddedCluster(settings).up()
    logs = settings.home / "bench" / "console-logs"  # the server's output
    logs.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(32)
    with (
        tempfile.TemporaryDirectory(prefix="lt-bench-console-") as scratch,
        _database(settings, options, Path(scratch), keep) as url,
    ):
        citizen = _citizen_of(url)
        sizes = _sizes(url)
        _progress(f"verifying the access log's chains ({sizes['access_log_entries']:,}) ...")
        started = time.perf_counter()
        report = verify(url)
        verified = {"intact": report.intact, "seconds": round(time.perf_counter() - started, 1)}
        _progress(f"  {'intact' if report.intact else 'BROKEN'} in {verified['seconds']} s")
        server = servers.gateway("console", free_port(), url, 1)
        server.env["LIENTHONG_CONSOLE_SESSION_SECRET"] = secret
        pages = _pages(citizen)
        server.start(logs)
        try:
            _measure(server.url, pages, citizen, secret, options["requests"])
        finally:
            server.stop()
    results = _report(pages)
    missed = [name for name, figures in results.items() if not figures["meets_target"]]
    print(f"pages missing the target: {', '.join(missed) if missed else 'none'}")
    document = {
        **options,
        "measured_on": sizes,
        "chains_verified": verified,
        "target_p95_ms": TARGET_P95_MS,
        "warm_up_requests": WARM_UP,
        "pages": results,
        "missing_target": missed,
    }
    target = settings.home / "bench"
    (target / "console.json").write_text(json.dumps(document, indent=2), encoding="utf-8")

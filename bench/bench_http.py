"""Prefill over HTTP against its floor and its peer:
`python -m bench http [--residents=N] [--small=N] [--large=N] [--rounds=R] [--seconds=S]
[--connections=C] [--batch-connections=C] [--workers=W] [--only=NAME,NAME] [--keep]`.

In one run, on scratch databases loaded through the ETL (synthetic residents and the sample
agreements), it starts and measures side by side, with wrk drawing random personal IDs:
  1. floor: a bare Starlette + asyncpg endpoint reading a resident by primary key;
  2. peer: PostGraphile 4 (installed from npm by `npm ci` in bench/postgraphile) answering the
     equivalent GraphQL query by primary key, with no policy and no audit;
  3. prefill: the gateway (`lienthong serve`) answering the trusted document PrefillCT01 as
     motcua-danang with a dev token: token, trusted document, policy decision per subject,
     field enforcement, durable access-log entry, response;
  4. batch: the trusted document ResidentsWithHouseholds for 100 random residents;
  5. prefill-generic: the prefill with the compiled plans off (the generic executor alone), to
     show what the plans buy (`plans_vs_generic`);
  6. prefill-dossier: the same prefill on the same server, each request bound to a registered
     one-stop dossier naming its subject (`X-Dossier`) and made by a verified officer (an
     assertion signed with the agency's registered key): what accountable access costs
     (`dossier_vs_prefill`), each request a dossier the process has not read yet; and
     prefill-dossier-warm, the same over 500 dossiers the processes keep (a case's several
     requests);
  7. prefill-signed: the same prefill asking for a signed answer (`Accept: application/jose`,
     docs/evidence.md): what signing costs (`signed_vs_prefill`);
and the prefill again on a smaller (`--small`, default 100,000) and optionally a larger
(`--large`, e.g. 10,000,000; 0 skips it) registry: the scale curve.
Each contender first warms up for a few seconds (not counted), then runs once per round, rounds
interleave them, and the quietest round of each (its highest throughput) counts: these machines
are shared and drift by tens of percent between rounds, so only same-run ratios mean anything.
After each gateway run the harness checks that every good answer's request id has its
access-log row.
Prints req/s, p50, p99, errors and CPU (servers, wrk, PostgreSQL) of each, in cores and in
milliseconds per request; the ratios prefill/floor and prefill/peer; the CPU budget of the
issue's 0.6 × the floor (how much gateway CPU a prefill could cost once its own PostgreSQL and
wrk work are paid, beside what it costs and what the bare floor costs). Writes
.lienthong/bench/http.json (the servers' output goes to .lienthong/bench/http-logs/). `--keep`
keeps the databases (their URLs are printed); `LIENTHONG_BENCH_DATABASE` / `_SMALL` / `_LARGE`
reuse databases kept earlier instead of loading new ones. `--only` runs the named contenders
alone (e.g. `--only=prefill,prefill-dossier --small=0` for the cost of accountable access).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from jwcrypto import jwk, jwt
from psycopg.types.json import Jsonb

from bench.bench_etl import LIENTHONG, _drop, _option, _scratch_database
from bench.http import servers
from bench.http.load import Figures, Lookup, gateway_allowance, run_wrk
from gateway.identity.dev_issuer import DevIssuer
from gateway.identity.officers import assertion_claims
from lienthong.cluster import EmbeddedCluster
from lienthong.settings import Settings
from tests.net import free_port

ROOT = Path(__file__).resolve().parent.parent
# The must: prefill throughput at least this share of the floor's, in the same run.
PREFILL_TARGET = 0.6
SAMPLE_POLICY = ROOT / "infra" / "sample" / "policy.json"
PEER_SCHEMA = """
CREATE SCHEMA IF NOT EXISTS bench_peer;
CREATE OR REPLACE VIEW bench_peer.residents AS
  SELECT personal_id, full_name, birth_date, sex, ethnicity_code, nationality,
         permanent_commune_code, permanent_address_line, household_id, relationship_to_head
  FROM public.residents WHERE valid_to IS NULL;
COMMENT ON VIEW bench_peer.residents IS E'@primaryKey personal_id';
"""
PEER_QUERY = (
    "query($id: String!) { residentByPersonalId(personalId: $id) { personalId fullName "
    "birthDate sex ethnicityCode nationality permanentCommuneCode permanentAddressLine "
    "householdId relationshipToHead } }"
)
SAMPLE_IDS = 20_000
WARM_UP_SECONDS = 3
TOKEN_TTL = 24 * 3600
ASSERTION_TTL = 3600  # the bench's gateway accepts assertions this long-lived
# prefill-dossier-warm draws from this many dossiers: each process reads each once, then finds
# it cached (a request every second or so per dossier, within the 5 s a dossier is kept)
WARM_DOSSIERS = 500


@dataclass
class Dataset:
    residents: int
    url: str
    ids: Path
    loaded: bool  # by this run (so dropped by it unless --keep)


def _etl(url: str, *arguments: str) -> None:
    result = subprocess.run(
        [str(LIENTHONG), *arguments],
        env={**os.environ, "LIENTHONG_DATABASE_URL": url, "COLUMNS": "120"},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"lienthong {' '.join(arguments)} failed:\n{result.stdout}{result.stderr}")


def _dataset(settings: Settings, residents: int, reuse: str, folder: Path) -> Dataset:
    """A database with `residents` synthetic residents and the sample agreements, loaded
    through the ETL (or one kept by an earlier run), the peer's view, and a file of IDs."""
    url, loaded = reuse, False
    if not url:
        url, loaded = _scratch_database(settings), True
        print(f"loading {residents:,} residents through the ETL ...", flush=True)
        out = folder / f"synth-{residents}"
        _etl(url, "etl", "synth", "--out", str(out), "--residents", str(residents),
             "--enterprises", "0", "--parcels", "0", "--seed", "1")  # fmt: skip
        _etl(url, "etl", "load", "residents", str(out / "residents.csv"))
        _etl(url, "etl", "load", "agreements", str(SAMPLE_POLICY))
        shutil.rmtree(out)
    ids = folder / f"ids-{residents}.txt"
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(PEER_SCHEMA)
        rows = connection.execute(
            "SELECT personal_id FROM residents WHERE valid_to IS NULL ORDER BY random() LIMIT %s",
            (SAMPLE_IDS,),
        ).fetchall()
        connection.execute("ANALYZE")
    ids.write_text("".join(f"{row[0]}\n" for row in rows), encoding="utf-8")
    return Dataset(residents, url, ids, loaded)


def _missing_audit_rows(url: str, request_ids: tuple[str, ...]) -> int:
    """How many good answers have no access-log row under their request id."""
    with psycopg.connect(url) as connection:
        row = connection.execute(
            "SELECT count(DISTINCT request_id) FROM access_log WHERE request_id = ANY(%s)",
            (list(request_ids),),
        ).fetchone()
    return len(request_ids) - (row[0] if row else 0)


@dataclass
class Contender:
    name: str
    server: servers.Server
    lookup: Lookup
    dataset: Dataset
    connections: int
    audited: bool
    ids: Path | None = None  # keys (and their dossiers) drawn, if not the dataset's

    @property
    def ids_file(self) -> Path:
        return self.ids or self.dataset.ids


def _first(keys: Path, count: int) -> Path:
    """A keys file of the first `count` lines of another."""
    fewer = keys.with_name(f"{keys.stem}-first-{count}.txt")
    lines = keys.read_text(encoding="utf-8").splitlines(keepends=True)[:count]
    fewer.write_text("".join(lines), encoding="utf-8")
    return fewer


def _accountable(data: Dataset, folder: Path) -> tuple[Path, str]:
    """For the prefill-dossier contender: a dossier registered for each sampled resident (the
    keys file then pairs each key with its dossier) and an officer assertion signed with a key
    registered for motcua-danang, valid for the whole run."""
    key = jwk.JWK.generate(kty="EC", crv="P-256", kid="bench-officer")
    now = datetime.now(UTC)
    keys = data.ids.read_text(encoding="utf-8").split()
    paired = folder / f"ids-dossier-{data.residents}.txt"
    numbers = [f"000.00.15.H17-{now:%y%m%d}-{n:06d}" for n in range(1, len(keys) + 1)]
    with psycopg.connect(data.url, autocommit=True) as connection:
        connection.execute("DELETE FROM dossiers WHERE request_id = 'bench'")
        connection.execute(
            "DELETE FROM agency_keys WHERE agency = 'motcua-danang' AND kid = 'bench-officer'"
        )
        connection.execute(
            "INSERT INTO agency_keys (agency, kid, jwk, created_by) VALUES (%s, %s, %s, 'bench')",
            ("motcua-danang", "bench-officer", Jsonb(key.export_public(as_dict=True))),
        )
        with connection.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO dossiers (number, agency, purpose, subjects, officer, opened_at, "
                "expires_at, request_id) VALUES (%s, 'motcua-danang', 'CT01', %s, %s, now(), "
                "now() + interval '1 day', 'bench')",
                [
                    (number, Jsonb([{"type": "Resident", "id": k, "role": "applicant"}]),
                     Jsonb({"id": "bench-officer", "verified": "assertion"}))
                    for number, k in zip(numbers, keys, strict=True)
                ],
            )  # fmt: skip
    paired.write_text(
        "".join(f"{k}\t{n}\n" for k, n in zip(keys, numbers, strict=True)), encoding="utf-8"
    )
    claims = assertion_claims(
        agency="motcua-danang", officer="cb-bench", name="Cán bộ đo tải",
        unit="Bộ phận Một cửa", audience=Settings().officer_audience,
        issued_at=int(now.timestamp()), ttl_seconds=ASSERTION_TTL,
    )  # fmt: skip
    assertion = jwt.JWT(header={"alg": "ES256", "kid": "bench-officer"}, claims=claims)
    assertion.make_signed_token(key)
    return paired, str(assertion.serialize())


def _gateway_lookups(token: str) -> tuple[Lookup, Lookup]:
    headers = {"Authorization": f"Bearer {token}", "X-Purpose": "CT01",
               "Content-Type": "application/json"}  # fmt: skip
    prefill = Lookup(
        method="POST",
        path="/graphql",
        body='{"operationName":"PrefillCT01","variables":{"subject":{IDS}}}',
        expect='"prefill":{',
        headers=headers,
    )
    batch = Lookup(
        method="POST",
        path="/graphql",
        body='{"operationName":"ResidentsWithHouseholds","variables":{"ids":[{IDS}]}}',
        expect='"residents":[{',
        per_request=100,
        headers=headers,
    )
    return prefill, batch


def _database_cpu(settings: Settings) -> Callable[[], dict[int, float]] | None:
    if not settings.uses_embedded_database:
        return None
    pid_file = EmbeddedCluster(settings).data_dir / "postmaster.pid"
    postmaster = int(pid_file.read_text(encoding="utf-8").split()[0])
    return lambda: servers.tree_cpu_seconds(postmaster)


def _print(results: dict[str, dict[str, object]]) -> None:
    header = ("contender", "req/s", "p50 ms", "p99 ms", "errors", "server", "wrk", "postgres")
    print("{:<16}{:>9}{:>9}{:>9}{:>8}{:>9}{:>7}{:>10}".format(*header))
    for name, figures in results.items():
        print(
            "{:<16}{:>9}{:>9}{:>9}{:>8}{:>9}{:>7}{:>10}".format(
                name,
                figures["requests_per_s"],
                figures["p50_ms"],
                figures["p99_ms"],
                figures["errors"],
                figures["server_cpu_cores"],
                figures["wrk_cpu_cores"],
                "-" if figures["database_cpu_cores"] is None else figures["database_cpu_cores"],
            )
        )
    print("(CPU in cores busy on average; the machine has", os.cpu_count(), "cores)")
    print("{:<16}{:>9}{:>7}{:>10}  (CPU ms per request)".format("", "server", "wrk", "postgres"))
    for name, figures in results.items():
        per: Any = figures["cpu_ms_per_request"]
        print(f"{name:<16}{per['server']:>9}{per['wrk']:>7}{per.get('database', '-'):>10}")


def _print_allowance(allowance: dict[str, float] | None, floor_per_s: float) -> None:
    if allowance is None:
        print("(no CPU budget: the database's CPU is not measured outside the embedded cluster)")
        return
    target = allowance["target_vs_floor"]
    print(
        f"CPU budget at {target} × the floor ({target * floor_per_s:,.0f} req/s): "
        f"{allowance['machine_cpu_ms_per_request_at_target']} ms of the machine per request, "
        f"{allowance['prefill_database_and_wrk_cpu_ms']} ms of it the prefill's PostgreSQL and "
        f"wrk work; the gateway may spend {allowance['server_cpu_ms_allowed']} ms. It spends "
        f"{allowance['server_cpu_ms_of_prefill']} ms; the bare floor server "
        f"{allowance['server_cpu_ms_of_floor']} ms."
    )


@dataclass(frozen=True)
class Options:
    residents: int
    small: int
    large: int
    rounds: int
    seconds: int
    connections: int
    batch_connections: int
    workers: int
    keep: bool
    only: frozenset[str]

    @classmethod
    def of(cls, argv: list[str]) -> Options:
        return cls(
            residents=_option(argv, "--residents", 1_000_000),
            small=_option(argv, "--small", 100_000),
            large=_option(argv, "--large", 0),
            rounds=_option(argv, "--rounds", 5),
            seconds=_option(argv, "--seconds", 10),
            connections=_option(argv, "--connections", 32),
            batch_connections=_option(argv, "--batch-connections", 4),
            workers=_option(argv, "--workers", os.cpu_count() or 1),
            keep="--keep" in argv,
            only=frozenset(
                name
                for arg in argv
                if arg.startswith("--only=")
                for name in arg.removeprefix("--only=").split(",")
                if name
            ),
        )


def _contenders(
    options: Options, datasets: list[Dataset], token: str, folder: Path
) -> list[Contender]:
    """Floor, peer, prefill and batch on the main dataset; the prefill on each other scale."""
    main_data, workers, connections = datasets[0], options.workers, options.connections
    prefill, batch = _gateway_lookups(token)
    paired, assertion = _accountable(main_data, folder)
    accountable = replace(
        prefill,
        headers={**prefill.headers, "X-Dossier": "{DOSSIER}", "X-Officer-Assertion": assertion},
    )
    # A signed answer is base64url: its payload, a JSON object of claims, starts with `{"iss":"`
    signed = replace(
        prefill, headers={**prefill.headers, "Accept": "application/jose"}, expect=".eyJpc3MiOiJ"
    )
    gateway = servers.gateway("prefill", free_port(), main_data.url, workers)
    generic = servers.gateway("generic", free_port(), main_data.url, workers, plans=False)
    peer_body = f'{{"query":"{PEER_QUERY}","variables":{{"id":{{IDS}}}}}}'
    contenders = [
        Contender("floor", servers.floor(free_port(), main_data.url, workers),
                  Lookup("GET", "/residents/{ID}", '"resident":{'), main_data, connections,
                  audited=False),
        Contender("peer", servers.postgraphile(free_port(), main_data.url, workers),
                  Lookup("POST", "/graphql", '"residentByPersonalId":{', body=peer_body,
                         headers={"Content-Type": "application/json"}),
                  main_data, connections, audited=False),
        Contender("prefill", gateway, prefill, main_data, connections, audited=True),
        Contender("batch", gateway, batch, main_data, options.batch_connections, audited=True),
        # the same prefill with the generic executor alone: what the compiled plans buy
        Contender("prefill-generic", generic, prefill, main_data, connections, audited=True),
        # the same prefill bound to a dossier, by a verified officer: what accountability costs
        Contender("prefill-dossier", gateway, accountable, main_data, connections, audited=True,
                  ids=paired),
        # the same prefill as a signed answer: what signing costs
        Contender("prefill-signed", gateway, signed, main_data, connections, audited=True),
        # the same, the dossiers already read: a dossier serving a case's several requests
        Contender("prefill-dossier-warm", gateway, accountable, main_data, connections,
                  audited=True, ids=_first(paired, WARM_DOSSIERS)),
    ]  # fmt: skip
    for data in datasets[1:]:
        server = servers.gateway(f"prefill-{data.residents}", free_port(), data.url, workers)
        contenders.append(
            Contender(f"prefill@{data.residents:,}", server, prefill, data, connections,
                      audited=True)
        )  # fmt: skip
    if options.only:
        contenders = [c for c in contenders if c.name in options.only]
    return contenders


@dataclass
class Measured:
    rounds: dict[str, list[Figures]]
    missing_audit_rows: dict[str, int]
    warm_up_errors: dict[str, int] = field(default_factory=dict)

    def best(self) -> dict[str, Figures]:
        """The quietest round of each contender: its highest throughput."""
        return {
            name: max(runs, key=lambda f: f.requests_per_s) for name, runs in self.rounds.items()
        }


def _measure(
    options: Options,
    contenders: list[Contender],
    database_cpu: Callable[[], dict[int, float]] | None,
) -> Measured:
    measured = Measured({c.name: [] for c in contenders}, {c.name: 0 for c in contenders})
    for contender in contenders:  # caches, pools and Node's JIT warm before anything counts
        warm = run_wrk(
            contender.server.url,
            contender.lookup,
            ids_file=contender.ids_file,
            prefix=f"warm-{os.getpid()}-{contender.name}",
            seconds=WARM_UP_SECONDS,
            connections=contender.connections,
            threads=min(2, contender.connections),
            server_cpu=contender.server.cpu_seconds,
            database_cpu=database_cpu,
        )
        measured.warm_up_errors[contender.name] = warm.errors
    for number in range(options.rounds):
        for contender in contenders:
            figures = run_wrk(
                contender.server.url,
                contender.lookup,
                ids_file=contender.ids_file,
                prefix=f"bench-{os.getpid()}-{number}-{contender.name}",
                seconds=options.seconds,
                connections=contender.connections,
                threads=min(2, contender.connections),
                server_cpu=contender.server.cpu_seconds,
                database_cpu=database_cpu,
            )
            if contender.audited:
                measured.missing_audit_rows[contender.name] += _missing_audit_rows(
                    contender.dataset.url, figures.answered
                )
            measured.rounds[contender.name].append(figures)
            print(
                f"round {number + 1} {contender.name:<18} {figures.requests_per_s:>8.0f} req/s"
                f"  p99 {figures.p99_ms:6.1f} ms  errors {figures.errors}",
                flush=True,
            )
    return measured


def _median(values: list[float] | None) -> float | None:
    return round(statistics.median(values), 3) if values else None


def _median_cpu(runs: list[Figures] | None) -> float | None:
    return _median([sum(f.cpu_ms_per_request().values()) for f in runs] if runs else None)


def _report(options: Options, measured: Measured, target: Path) -> None:
    best = measured.best()
    results: dict[str, dict[str, object]] = {
        name: figures.as_dict()
        if name in ("floor", "peer")
        else {**figures.as_dict(), "access_log_rows_missing": measured.missing_audit_rows[name]}
        for name, figures in best.items()
    }
    scale = {name: figures.requests_per_s for name, figures in best.items() if "@" in name}
    if "prefill" in best:
        scale = {f"prefill@{options.residents:,}": best["prefill"].requests_per_s} | scale
    per_round = measured.rounds

    def ratio(a: str, b: str) -> float | None:
        return (
            round(best[a].requests_per_s / best[b].requests_per_s, 3)
            if {a, b} <= best.keys()
            else None
        )

    def per_round_ratio(a: str, b: str) -> list[float] | None:
        if not {a, b} <= per_round.keys():
            return None
        pairs = zip(per_round[a], per_round[b], strict=True)
        return [round(x.requests_per_s / y.requests_per_s, 3) for x, y in pairs]

    ratios = {
        "prefill_vs_floor": ratio("prefill", "floor"),
        "prefill_vs_peer": ratio("prefill", "peer"),
        "per_round_prefill_vs_floor": per_round_ratio("prefill", "floor"),
        "per_round_prefill_vs_peer": per_round_ratio("prefill", "peer"),
        "scale_lowest_vs_highest": round(min(scale.values()) / max(*scale.values(), 1.0), 3)
        if scale
        else None,
        "plans_vs_generic": ratio("prefill", "prefill-generic"),
        "generic_vs_floor": ratio("prefill-generic", "floor"),
        # what binding each request to a dossier and a verified officer leaves of the prefill;
        # on a noisy machine the median of the same-round ratios says more than the best rounds
        "dossier_vs_prefill": ratio("prefill-dossier", "prefill"),
        "per_round_dossier_vs_prefill": per_round_ratio("prefill-dossier", "prefill"),
        "median_dossier_vs_prefill": _median(per_round_ratio("prefill-dossier", "prefill")),
        "warm_dossier_vs_prefill": ratio("prefill-dossier-warm", "prefill"),
        "signed_vs_prefill": ratio("prefill-signed", "prefill"),
        "per_round_signed_vs_prefill": per_round_ratio("prefill-signed", "prefill"),
        "per_round_warm_dossier_vs_prefill": per_round_ratio("prefill-dossier-warm", "prefill"),
        # CPU (gateway + PostgreSQL + wrk) per request, median over the rounds: the cost itself
        "median_cpu_ms_prefill": _median_cpu(per_round.get("prefill")),
        "median_cpu_ms_dossier": _median_cpu(per_round.get("prefill-dossier")),
    }
    allowance = (
        gateway_allowance(
            best["floor"], best["prefill"], cores=os.cpu_count() or 1, target=PREFILL_TARGET
        )
        if {"floor", "prefill"} <= best.keys()
        else None
    )
    _print(results)
    for name, value in ratios.items():
        print(f"{name:>28}: {value}")
    if allowance is not None:
        _print_allowance(allowance, best["floor"].requests_per_s)
    print(f"{'scale curve (req/s)':>28}: "
          + ", ".join(f"{name} {value:.0f}" for name, value in scale.items()))  # fmt: skip
    target.mkdir(parents=True, exist_ok=True)
    document = {
        **{
            k: sorted(v) if isinstance(v, frozenset) else v
            for k, v in options.__dict__.items()
            if k != "keep"
        },
        "results": results,
        "ratios": ratios,
        "prefill_cpu_budget": allowance,
        "scale_requests_per_s": {k: round(v) for k, v in scale.items()},
        "per_round": {name: [f.as_dict() for f in runs] for name, runs in per_round.items()},
        "warm_up_errors": measured.warm_up_errors,
    }
    (target / "http.json").write_text(json.dumps(document, indent=2), encoding="utf-8")


def main(argv: list[str]) -> None:
    options = Options.of(argv)
    settings = Settings()
    if settings.uses_embedded_database:
        EmbeddedCluster(settings).up()
    if not (servers.POSTGRAPHILE_DIR / "node_modules").exists():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=servers.POSTGRAPHILE_DIR,
            check=True,
        )
    token = DevIssuer(settings).mint(agency="motcua-danang", ttl_seconds=TOKEN_TTL)
    datasets: list[Dataset] = []
    started: list[servers.Server] = []
    logs = settings.home / "bench" / "http-logs"  # the servers' output, kept for a post-mortem
    logs.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="lt-bench-http-") as scratch:
        folder = Path(scratch)
        try:
            sizes = [(options.residents, ""), (options.small, "_SMALL"), (options.large, "_LARGE")]
            for size, label in sizes:
                if size:
                    reuse = os.environ.get(f"LIENTHONG_BENCH_DATABASE{label}", "")
                    datasets.append(_dataset(settings, size, reuse, folder))
            contenders = _contenders(options, datasets, token, folder)
            for contender in contenders:
                if contender.server not in started:
                    started.append(contender.server)
                    contender.server.start(logs)
            measured = _measure(options, contenders, _database_cpu(settings))
        finally:
            for server in started:
                server.stop()
            for data in datasets:
                if data.loaded and options.keep:
                    print(f"kept {data.residents:,} residents in {data.url}")
                elif data.loaded:
                    _drop(settings, data.url)
    _report(options, measured, settings.home / "bench")

"""The one Settings class. Nothing else in the code base reads the environment."""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from lienthong import resources

PROJECT_ROOT = Path(__file__).resolve().parent.parent
EMBEDDED_PORT = 54329
EMBEDDED_DATABASE = "lienthong"
EMBEDDED_SUPERUSER = "postgres"
# What a database URL may start with: libpq's two spellings, or SQLAlchemy's with a driver.
POSTGRES_SCHEMES = ("postgresql://", "postgres://", "postgresql+")


def default_home() -> Path:
    """In a checkout (or an editable install), the repository's `.lienthong/`; installed from a
    wheel (the package under site-packages, which is no place for state), `.lienthong/` of the
    working directory. Deployments set `LIENTHONG_HOME` (docs/deploy.md)."""
    if resources.SHARE == resources.CHECKOUT:
        return PROJECT_ROOT / ".lienthong"
    return Path.cwd() / ".lienthong"


class Env(StrEnum):
    DEV = "dev"
    PROD = "prod"


class AuthMode(StrEnum):
    DEV = "dev"
    KEYCLOAK = "keycloak"


class Settings(BaseSettings):
    """Platform settings, read from `LIENTHONG_*` environment variables (see docs/contract.md)."""

    model_config = SettingsConfigDict(env_prefix="LIENTHONG_", extra="ignore")

    env: Env = Env.DEV
    home: Path = Field(
        default_factory=default_home,
        description="State directory: embedded cluster, dev issuer keys, caches; by default "
        "the checkout's `.lienthong/`, or, installed from a wheel, the working directory's.",
    )
    database_url: str = Field(
        default="",
        description="PostgreSQL URL; empty means the embedded cluster under `home`.",
    )
    database_port: int = Field(default=EMBEDDED_PORT, description="Embedded cluster port.")
    database_replica_urls: str = Field(
        default="",
        description="Comma-separated PostgreSQL URLs of streaming replicas for registry reads; "
        "empty: every read goes to the primary.",
    )
    database_replica_max_lag_seconds: float = Field(
        default=5.0,
        gt=0,
        description="A replica further behind the primary than this is taken out of rotation.",
    )
    database_replica_check_seconds: float = Field(
        default=1.0, gt=0, description="How often each replica's health and lag are checked."
    )
    database_replica_timeout_seconds: float = Field(
        default=2.0,
        gt=0,
        description="Connect, health-check and statement timeout on a replica: a replica slower "
        "than this is treated as down and the read goes to the primary.",
    )
    auth_mode: AuthMode | None = Field(
        default=None, description="`dev` (embedded issuer) or `keycloak`; defaults from `env`."
    )
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="The gateway's external URL; the dev issuer's `iss` is under it.",
    )
    keycloak_url: str = Field(
        default="",
        description="Keycloak's public URL, as clients reach it: tokens' `iss` is its realm URL.",
    )
    keycloak_internal_url: str = Field(
        default="",
        description="Where the gateway itself reaches Keycloak (discovery, keys, introspection) "
        "when the public URL does not resolve from inside its network (a container, a pod); "
        "empty: the public URL.",
    )
    keycloak_realm: str = "lienthong"
    keycloak_audience: str = "lienthong-gateway"
    keycloak_admin_client_id: str = Field(
        default="lienthong-provisioner",
        description="Client that registers agencies (realm-management: manage-clients, "
        "manage-users, view-realm: it creates the client and gives it the role `agency`).",
    )
    keycloak_admin_client_secret: SecretStr = Field(
        default=SecretStr(""), description="Its secret; empty: agencies cannot be registered."
    )
    console_oidc_url: str = Field(
        default="",
        description="The OpenID provider the web console (/console, /me) signs people in at, "
        "Keycloak-shaped (its realm under /realms/<keycloak_realm>); empty: Keycloak's "
        "(`keycloak_url`, reached at `keycloak_internal_url` when set). `make demo` points it at "
        "the OIDC stand-in.",
    )
    console_client_id: str = Field(
        default="steward-console", description="The stewards' sign-in client (/console)."
    )
    console_client_secret: SecretStr = Field(
        default=SecretStr(""),
        description="Its secret (a confidential client); empty: a public client (PKCE alone).",
    )
    console_citizen_client_id: str = Field(
        default="citizen-portal",
        description="The citizens' sign-in client (/me): public, PKCE, maps `citizen_id`.",
    )
    console_redirect_base: str = Field(
        default="",
        description="The URL browsers reach the console by, for the OpenID redirect URIs "
        "(<base>/console/callback, <base>/me/callback); empty: `public_url`.",
    )
    console_session_secret: SecretStr = Field(
        default=SecretStr(""),
        description="Signs the console's session cookies; the same on every replica. Empty: in "
        "dev a key kept under `home`; in prod the console refuses to sign anyone in.",
    )
    console_session_seconds: int = Field(
        default=3600, ge=60, le=86_400, description="How long a console sign-in lasts."
    )
    opa_url: str = Field(default="", description="OPA REST URL; empty means the embedded engine.")
    audit_fsync: bool = True
    answer_signing_key_file: Path | None = Field(
        default=None,
        description="The private key (PEM or JWK; EC P-256 or RSA) signed answers are signed "
        "with (docs/evidence.md); read again when the file changes, so a new key signs from "
        "the next request. Unset: in dev a key made under `home`; in prod the gateway refuses "
        "to start.",
    )
    answer_retired_keys_file: Path | None = Field(
        default=None,
        description="A JWKS file of retired answer-signing keys, each with `retired_at` (ISO "
        "8601): they stay published at /.well-known/answer-keys.json so that older signed "
        "answers still verify. Read again when the file changes.",
    )
    answer_key_retention_days: float = Field(
        default=3650,
        ge=0,
        description="How long a retired answer-signing key stays published after `retired_at`.",
    )
    rate_limit_per_second: float = Field(
        default=200.0,
        gt=0,
        description="Requests per second per agency, across every gateway process and replica.",
    )
    rate_limit_burst: int = Field(default=400, ge=1, description="Burst size per agency.")
    citizen_rate_per_second: float = Field(
        default=2.0, gt=0, description="Requests per second per citizen (citizen tokens)."
    )
    citizen_rate_burst: int = Field(default=20, ge=1, description="Burst size per citizen.")
    rate_slice_seconds: float = Field(
        default=0.1,
        gt=0,
        le=10,
        description="A process leases this many seconds' worth of a bucket's rate at a time "
        "(at least one request): fewer shared-row updates, a larger share held per process.",
    )
    quota_slice: int = Field(
        default=20,
        ge=1,
        description="Subjects of a daily quota a process leases at a time; the documented "
        "overshoot of a quota is bounded by it (docs/limits.md).",
    )
    officer_required: bool | None = Field(
        default=None,
        description="Agency requests for registry data must name a verified officer (an officer "
        "assertion or a token-exchange token); defaults to on in prod.",
    )
    officer_audience: str = Field(
        default="lienthong-gateway", description="`aud` an officer assertion must name."
    )
    officer_assertion_max_seconds: int = Field(
        default=600, ge=30, le=3600, description="Longest lifetime (exp - iat) of an assertion."
    )
    dossier_max_days: int = Field(
        default=90, ge=1, le=3650, description="Furthest expiry of a dossier, from its opening."
    )
    dossier_max_subjects: int = Field(
        default=50, ge=1, le=500, description="Most subjects one dossier may name."
    )
    dossier_cache_seconds: float = Field(
        default=5.0,
        ge=0,
        le=60,
        description="How long a process reuses a dossier it read; a dossier closed elsewhere "
        "stops being honoured within this (expiry is checked on every request).",
    )
    alert_scan_seconds: float = Field(
        default=60.0,
        ge=0,
        description="How often the access log is scanned for bulk access "
        "(one process scans at a time); 0: only on demand (POST /admin/alerts/scan).",
    )
    alert_window_minutes: int = Field(
        default=60, ge=1, le=1440, description="The window each scan looks at."
    )
    alert_officer_subjects: int = Field(
        default=300,
        ge=1,
        description="Distinct subjects one officer may read in a window "
        "before an alert, whatever the agency's norm.",
    )
    alert_officer_factor: float = Field(
        default=5.0,
        gt=1,
        description="An officer reading this many times the agency's median "
        "officer (and at least alert_officer_min_subjects) raises an alert.",
    )
    alert_officer_min_subjects: int = Field(
        default=50, ge=1, description="Below this many subjects the factor rule stays silent."
    )
    alert_office_hours: str = Field(
        default="07:00-18:00",
        pattern=r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$",
        description="Office hours (Vietnam time, Monday to Saturday); reads outside them count.",
    )
    alert_off_hours_subjects: int = Field(
        default=20, ge=1, description="Subjects read outside office hours before an alert."
    )
    alert_absent_lookups: int = Field(
        default=50, ge=1, description="Lookups of absent keys by one officer before an alert."
    )
    alert_dossier_subjects: int = Field(
        default=30, ge=1, description="Distinct subjects one dossier may touch before an alert."
    )
    graphql_max_depth: int = Field(default=10, ge=1, description="Deepest selection allowed.")
    graphql_max_introspection_depth: int = Field(
        default=20,
        ge=1,
        description="Deepest introspection query (`__schema`, `__type`; dev only): graphql-js's "
        "standard one is 15 levels.",
    )
    graphql_max_tokens: int = Field(default=2000, ge=10, description="Most lexer tokens.")
    graphql_max_body_bytes: int = Field(
        default=64 * 1024, ge=1024, description="Largest /graphql request body (HTTP 413 above)."
    )
    graphql_max_query_bytes: int = Field(
        default=16 * 1024,
        ge=256,
        description="Longest query text in bytes, comments and white space included.",
    )
    graphql_max_json_depth: int = Field(
        default=32, ge=2, le=512, description="Deepest JSON nesting of variables and extensions."
    )
    graphql_max_cost: int = Field(
        default=20_000, ge=1, description="Most fields an operation may resolve (lists counted)."
    )
    graphql_plans: bool = Field(
        default=True,
        description="Answer trusted prefill documents through their compiled plans (off: the "
        "generic executor answers everything).",
    )
    full_export_max_close_share: float = Field(
        default=0.05,
        ge=0.0,
        le=1.0,
        description="The share of a scope's current records a full export (`etl load "
        "--full-export`) may close; beyond it the load stops unless `--force` (docs/loads.md).",
    )
    webhook_max_attempts: int = Field(
        default=8,
        ge=1,
        le=100,
        description="Attempts of a webhook delivery before it is dead (a steward may "
        "redeliver it: docs/events.md).",
    )
    webhook_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=120,
        description="The whole of one webhook request (connect, send, answer); longer is a "
        "failed attempt.",
    )
    webhook_backoff_seconds: float = Field(
        default=60.0,
        gt=0,
        description="Retries wait a random time (full jitter) up to this doubled per attempt made…",
    )
    webhook_backoff_max_seconds: float = Field(
        default=21600.0, gt=0, description="…and never more than this."
    )
    webhook_lease_seconds: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="How long a worker holds a delivery it claimed; past it another worker may "
        "take it (its own was killed). At least twice the request timeout.",
    )
    worker_poll_seconds: float = Field(
        default=0.2,
        gt=0,
        le=60,
        description="How often an idle `lienthong worker` looks for new events and due deliveries.",
    )
    worker_concurrency: int = Field(
        default=32, ge=1, le=1024, description="Webhook requests one worker makes at once."
    )
    ops_token: SecretStr = Field(
        default=SecretStr(""),
        description="In prod, the bearer token /metrics, /readyz's details and the OPA bundle "
        "need (Prometheus' and OPA's credentials); empty: they are closed.",
    )
    audit_checkpoint_key_file: Path | None = Field(
        default=None,
        description="The private key (PEM, EC P-256) `lienthong audit checkpoint` signs the "
        "chain heads with; kept out of the database, on the checkpointing job's host only. "
        "Unset: in dev a key made under `home`; in prod the command refuses to run.",
    )
    audit_checkpoint_jwks_file: Path | None = Field(
        default=None,
        description="A JWKS of the public keys checkpoints are verified with (old keys kept "
        "beside the current one after a rotation); `audit verify` needs no private key. Unset: "
        "the public half of `audit_checkpoint_key_file`.",
    )
    audit_checkpoint_sinks: str = Field(
        default="",
        description="Where checkpoints are written and read: comma-separated directories and "
        "`s3://bucket/prefix` URLs; each database has its own folder in each. Empty: "
        "`<home>/audit-checkpoints`.",
    )
    audit_checkpoint_s3_endpoint_url: str = Field(
        default="",
        description="The S3 API endpoint of an object store other than AWS (MinIO, Ceph, a "
        "provincial cloud); empty: AWS's. Credentials come from boto3's usual chain.",
    )
    audit_checkpoint_required: bool | None = Field(
        default=None,
        description="`audit verify` fails when no checkpoint is found; defaults to on in prod.",
    )
    log_level: str = "INFO"
    log_json: bool | None = Field(default=None, description="JSON logs; defaults to on in prod.")

    @field_validator("database_url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if value and not value.startswith(POSTGRES_SCHEMES):
            raise ValueError("LIENTHONG_DATABASE_URL must be a postgresql:// URL")
        return value

    @field_validator("database_replica_urls")
    @classmethod
    def _replica_schemes(cls, value: str) -> str:
        for url in _split_urls(value):
            if not url.startswith(POSTGRES_SCHEMES):
                raise ValueError("LIENTHONG_DATABASE_REPLICA_URLS: postgresql:// URLs, by commas")
        return value

    @model_validator(mode="after")
    def _defaults_from_env(self) -> Settings:
        if self.auth_mode is None:
            self.auth_mode = AuthMode.DEV if self.env is Env.DEV else AuthMode.KEYCLOAK
        if self.log_json is None:
            self.log_json = self.env is Env.PROD
        if self.officer_required is None:
            self.officer_required = self.env is Env.PROD
        if self.audit_checkpoint_required is None:
            self.audit_checkpoint_required = self.env is Env.PROD
        if self.webhook_lease_seconds < 2 * self.webhook_timeout_seconds:
            # an attempt is given up before its lease ends (gateway/events/worker.py), so that
            # no other worker ever attempts the same delivery while it still runs
            raise ValueError(
                "LIENTHONG_WEBHOOK_LEASE_SECONDS must be at least twice "
                "LIENTHONG_WEBHOOK_TIMEOUT_SECONDS"
            )
        return self

    @property
    def token_issuer(self) -> str:
        """`iss` of accepted tokens: Keycloak's realm URL, or the dev issuer's on the gateway."""
        base = self.keycloak_url if self.auth_mode is AuthMode.KEYCLOAK else self.public_url
        return f"{base.rstrip('/')}/realms/{self.keycloak_realm}"

    @property
    def keycloak_server_url(self) -> str:
        """The base URL the gateway fetches Keycloak's realm documents from: the internal URL,
        else the public one. Tokens' `iss` stays the public one (`token_issuer`)."""
        return self.keycloak_internal_url or self.keycloak_url

    @property
    def uses_embedded_database(self) -> bool:
        return not self.database_url

    @property
    def libpq_url(self) -> str:
        """The database URL in plain libpq form (`postgresql://…`), for psycopg and tools."""
        if self.database_url:
            return _libpq(self.database_url)
        return (
            f"postgresql://{EMBEDDED_SUPERUSER}@127.0.0.1:{self.database_port}/{EMBEDDED_DATABASE}"
        )

    @property
    def async_database_url(self) -> str:
        """SQLAlchemy URL for the asyncpg driver."""
        return _asyncpg(self.libpq_url)

    @property
    def sync_database_url(self) -> str:
        """SQLAlchemy URL for the psycopg (v3) driver: alembic, COPY, admin work."""
        return self.libpq_url.replace("postgresql://", "postgresql+psycopg://", 1)

    @property
    def async_replica_urls(self) -> list[str]:
        """SQLAlchemy asyncpg URLs of the read replicas, in the order given."""
        return [_asyncpg(_libpq(url)) for url in _split_urls(self.database_replica_urls)]


def _split_urls(value: str) -> list[str]:
    return [url.strip() for url in value.split(",") if url.strip()]


def _asyncpg(libpq_url: str) -> str:
    return libpq_url.replace("postgresql://", "postgresql+asyncpg://", 1)


def _libpq(url: str) -> str:
    """`postgres://` or `postgresql+driver://` as plain libpq `postgresql://`."""
    scheme, rest = url.split("://", 1)
    return f"postgresql://{rest}" if scheme != "postgresql" else url


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()

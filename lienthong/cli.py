"""The `lienthong` command (Typer). Each domain contributes its own sub-command group."""

from __future__ import annotations

import typer

from etl import cli as etl_cli
from gateway import cli as gateway_cli
from gateway.audit import cli as audit_cli
from gateway.events import worker as events_worker
from gateway.identity import cli as identity_cli
from gateway.policy import cli as policy_cli
from gateway.signing import cli as signing_cli
from lienthong import db_cli
from lienthong.logging import configure_logging
from lienthong.settings import get_settings

app = typer.Typer(
    help="Liên Thông: shared e-government registries behind a policy-enforcing GraphQL gateway.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(db_cli.app, name="db")
app.add_typer(etl_cli.app, name="etl")
app.add_typer(identity_cli.app, name="dev")
app.add_typer(audit_cli.app, name="audit")
app.add_typer(policy_cli.app, name="policy")
app.command("serve")(gateway_cli.serve)
app.command("worker")(events_worker.worker)
app.command("verify-answer")(signing_cli.verify_answer_command)


@app.callback()
def main() -> None:
    configure_logging(get_settings())

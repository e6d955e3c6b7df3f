"""`lienthong verify-answer FILE [--jwks PATH_OR_URL]`: a saved signed answer checked offline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import typer

from gateway.signing.answers import JWKS_PATH, AnswerRejected, SignedAnswer, verify_answer

MALFORMED_INPUT = 2  # the file or the JWKS cannot be read at all
REJECTED = 1  # the answer does not verify


def _jwks(source: str | None, answer_file: Path) -> dict[str, Any]:
    """The JWKS from a file, or fetched from a URL (only when given one); by default
    `answer-keys.json` beside the answer."""
    if source is None:
        source = str(answer_file.with_name("answer-keys.json"))
    try:
        if source.startswith(("https://", "http://")):
            reply = httpx.get(source, timeout=10, follow_redirects=False)
            reply.raise_for_status()
            document = reply.json()
        else:
            document = json.loads(Path(source).read_text(encoding="utf-8"))
    except (OSError, ValueError, httpx.HTTPError) as error:
        typer.echo(f"cannot read the JWKS {source}: {error}", err=True)
        raise typer.Exit(MALFORMED_INPUT) from error
    if not isinstance(document, dict):
        typer.echo(f"the JWKS {source} is not a JSON object", err=True)
        raise typer.Exit(MALFORMED_INPUT)
    return document


def describe(answer: SignedAnswer) -> list[str]:
    """What a verified answer certifies, one line each."""
    officer = answer.officer or {}
    lines = [
        f"signed by     {answer.issuer} (key {answer.kid})",
        f"at            {answer.issued_at.isoformat()}",
        f"request       {answer.request_id or '-'} (HTTP {answer.status})",
        f"agency        {answer.agency or '-'}",
        f"purpose       {answer.purpose or '-'}",
        f"dossier       {answer.dossier or '-'}",
        "officer       "
        + (
            f"{officer.get('id')} ({officer.get('name') or '-'}, {officer.get('unit') or '-'}; "
            f"verified by {officer.get('verified')})"
            if officer
            else "-"
        ),
        f"errors        {len(answer.response.get('errors') or [])}",
        f"entries       {len(answer.entries)}",
    ]
    lines += [f"  {e.chain_key} #{e.seq} {e.hash}" for e in answer.entries]
    lines.append(f"chain heads   {len(answer.heads)}")
    lines += [f"  {h.chain_key} #{h.seq} {h.hash}" for h in answer.heads]
    return lines


def verify_answer_command(
    file: Path = typer.Argument(..., help="A saved signed answer (the application/jose body)."),
    jwks: str | None = typer.Option(
        None,
        "--jwks",
        help=f"The gateway's published keys: a JWKS file (saved from {JWKS_PATH}), or its URL "
        "(fetched only then). Default: answer-keys.json beside FILE.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the verified claims as JSON."),
) -> None:
    """Check a signed answer offline: exit 0 and print what it certifies, or exit 1 with why it
    does not verify (bad signature, unknown kid, malformed); 2 if FILE or the JWKS is unreadable."""
    try:
        token = file.read_text(encoding="ascii")
    except (OSError, UnicodeError) as error:
        typer.echo(f"cannot read {file}: {error}", err=True)
        raise typer.Exit(MALFORMED_INPUT) from error
    keys = _jwks(jwks, file)
    try:
        answer = verify_answer(token, keys)
    except AnswerRejected as rejected:
        typer.echo(f"NOT VERIFIED ({rejected.reason}): {rejected}", err=True)
        raise typer.Exit(REJECTED) from rejected
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "kid": answer.kid,
                    "iss": answer.issuer,
                    "iat": answer.issued_at.isoformat(),
                    "request_id": answer.request_id,
                    "agency": answer.agency,
                    "officer": answer.officer,
                    "purpose": answer.purpose,
                    "dossier": answer.dossier,
                    "status": answer.status,
                    "response": answer.response,
                    "entries": [vars(e) for e in answer.entries],
                    "heads": [vars(h) for h in answer.heads],
                },
                ensure_ascii=False,
                indent=2,
            )
        )
        return
    typer.echo("VERIFIED signed answer")
    for line in describe(answer):
        typer.echo(line)

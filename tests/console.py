"""What the web console's tests share (tests/functional/test_console*.py, the fixtures in
tests/conftest.py, and the browser tests' stand-in in tests/e2e/): the stand-in's clients and
users, people signing in by the authorization-code flow at the real OIDC stand-in, and reading
the pages (the anti-forgery token, the text a person reads, a table's cells, the inputs marked
invalid)."""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from gateway.identity.dev_issuer import DevIssuer
from lienthong.settings import Settings
from tests import openid

BASE = "http://gw"  # where the in-process app is reached (and the stand-in sends people back)
CONSOLE_SECRET = "s3cret-console"  # the stewards' client's secret at the stand-in
PASSWORD = "s3cret-{}"  # a test user's password, by username
RESIDENT_NAME = "query($id: ID!) { resident(id: $id) { fullName } }"


def clients(base: str) -> list[dict[str, Any]]:
    """The stand-in's clients for a console reached at `base`: the stewards' (confidential)
    and the citizens' (public), each sending people back to its callback."""
    return [
        {"client_id": "steward-console", "client_secret": CONSOLE_SECRET,
         "redirect_uris": [f"{base}/console/callback"]},
        {"client_id": "citizen-portal", "public": True, "redirect_uris": [f"{base}/me/callback"]},
    ]  # fmt: skip


def stewards(people: Mapping[str, tuple[str, Sequence[str]]]) -> list[dict[str, Any]]:
    """Stand-in users of stewards, `username: (sub, realm roles)`, password PASSWORD."""
    return [
        {"username": name, "password": PASSWORD.format(name), "sub": sub, "roles": list(roles),
         "name": name.title()}
        for name, (sub, roles) in people.items()
    ]  # fmt: skip


def citizen(username: str, personal_id: str, name: str | None = None) -> dict[str, Any]:
    """A stand-in user who is a citizen (their token maps `citizen_id`), password PASSWORD."""
    return {"username": username, "password": PASSWORD.format(username), "roles": ["citizen"],
            "name": name or username.title(), "claims": {"citizen_id": personal_id}}  # fmt: skip


async def sign_in(http: httpx.AsyncClient, username: str, *, home: str = "/console") -> None:
    """`username` signs in at the stand-in's login page, from `home`'s sign-in to its callback,
    in the browser `http` (its cookie jar keeps the session); back at `home`/."""
    start = await http.get(f"{home}/sign-in/start", params={"next": f"{home}/"})
    assert start.status_code == 303, start.text
    target = await asyncio.to_thread(
        openid.login, start.headers["location"], username=username,
        password=PASSWORD.format(username), redirect_uri=f"{BASE}{home}/callback",
    )  # fmt: skip
    back = await http.get(target.removeprefix(BASE))
    assert back.status_code == 303, back.text
    assert back.headers["location"] == f"{home}/"


def csrf_of(page: httpx.Response) -> str:
    """The page's anti-forgery token (every form carries it)."""
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, page.text[:2000]
    return found.group(1)


def hidden(page: httpx.Response, name: str) -> str:
    """The value of the page's input `name` (a hidden one, say)."""
    found = re.search(rf'name="{name}" value="([^"]*)"', page.text)
    assert found, page.text[:2000]
    return html.unescape(found.group(1))


def text_of(page: httpx.Response) -> str:
    """The page's text, tags dropped, entities decoded and white space collapsed (what a person
    reads)."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page.text)).split())


def table_rows(page: httpx.Response, table: str) -> list[list[str]]:
    """The cells' text of each body row of the table with this id."""
    body = re.search(rf'<table id="{table}">.*?<tbody>(.*?)</tbody>', page.text, re.S)
    if body is None:
        return []
    return [
        [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", cell)).split())
         for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body.group(1), re.S)
    ]  # fmt: skip


def invalid_inputs(page: httpx.Response) -> set[str]:
    """The ids of the inputs the page marks invalid (aria-invalid, their errors described)."""
    found = set()
    for tag in re.findall(r"<(?:input|select|textarea|fieldset)\b[^>]*>", page.text):
        if 'aria-invalid="true"' in tag:
            name = re.search(r'id="([^"]+)"', tag)
            assert name and f"{name.group(1)}-error" in tag, tag  # described by its error
            found.add(name.group(1))
    return found


def agency_reads_name(console: str, home: Path, resident_id: str, agency: str, purpose: str) -> Any:
    """What `agency` gets of the resident's name for `purpose`, asked of a running gateway with
    a dev token: the answer of the agency's next request after a steward's change."""
    token = DevIssuer(Settings(home=home, public_url=console)).mint(agency=agency)
    answer = httpx.post(
        f"{console}/graphql",
        json={"query": RESIDENT_NAME, "variables": {"id": resident_id}},
        headers={"Authorization": f"Bearer {token}", "X-Purpose": purpose},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()

"""Where verification keys come from: a local key set (dev issuer) or an issuer's JWKS over HTTP,
cached, refreshed when a token names an unknown key id, at most once per `min_refresh_interval`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from jwcrypto import jwk

from gateway.identity.errors import AuthenticationError


class KeySource(Protocol):
    async def key_for(self, kid: str | None) -> jwk.JWK: ...


def _key_set(document: dict[str, Any]) -> dict[str, jwk.JWK]:
    keys: dict[str, jwk.JWK] = {}
    for entry in document.get("keys", []):
        if entry.get("use", "sig") != "sig":
            continue
        key = jwk.JWK(**entry)
        keys[str(entry.get("kid") or key.thumbprint())] = key
    return keys


class LocalKeys:
    """Keys held in memory: the embedded dev issuer's. Verification never touches the network."""

    def __init__(self, jwks: dict[str, Any]) -> None:
        self._keys = _key_set(jwks)

    async def key_for(self, kid: str | None) -> jwk.JWK:
        return _pick(self._keys, kid)


class RemoteKeys:
    """An issuer's JWKS, fetched by `fetch` (e.g. python-keycloak's `a_certs`) and cached."""

    def __init__(
        self,
        fetch: Callable[[], Awaitable[dict[str, Any]]],
        *,
        min_refresh_interval: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._keys: dict[str, jwk.JWK] = {}
        self._fetched_at: float | None = None
        self._min_refresh_interval = min_refresh_interval
        self._clock = clock
        self._lock = asyncio.Lock()

    async def key_for(self, kid: str | None) -> jwk.JWK:
        if kid is not None and kid in self._keys:
            return self._keys[kid]
        async with self._lock:
            if kid is None or kid not in self._keys:
                await self._refresh()
        return _pick(self._keys, kid)

    async def _refresh(self) -> None:
        now = self._clock()
        if self._fetched_at is not None and now - self._fetched_at < self._min_refresh_interval:
            return  # an unknown kid must not let callers hammer the issuer
        try:
            document = await self._fetch()
        except Exception as error:
            if not self._keys:
                raise AuthenticationError("the token issuer's keys cannot be fetched") from error
            return  # keep serving with the keys we have
        self._keys = _key_set(document)
        self._fetched_at = now


def _pick(keys: dict[str, jwk.JWK], kid: str | None) -> jwk.JWK:
    if kid is None:
        if len(keys) == 1:
            return next(iter(keys.values()))
        raise AuthenticationError("the token names no key (kid) and the issuer has several")
    key = keys.get(kid)
    if key is None:
        raise AuthenticationError("the token is signed with a key the issuer does not publish")
    return key

"""Agency clients in Keycloak: created when a steward registers an agency, disabled when the
agency is suspended (Keycloak Admin REST API through python-keycloak's KeycloakAdmin)."""

from __future__ import annotations

from typing import Any, Protocol

from keycloak import KeycloakAdmin

from gateway.identity.principal import AGENCY
from lienthong.settings import Settings


class ProvisioningUnavailable(RuntimeError):  # noqa: N818 - the admin API answers UNAVAILABLE
    """Keycloak cannot be asked to create or disable an agency's client."""


class AgencyProvisioner(Protocol):
    async def create_agency_client(self, *, client_id: str, name: str) -> str: ...

    async def set_agency_enabled(self, *, client_id: str, enabled: bool) -> None: ...


def agency_client_payload(*, client_id: str, name: str, audience: str) -> dict[str, Any]:
    """A confidential client that can only get tokens for itself (client credentials)."""
    return {
        "clientId": client_id,
        "name": name,
        "enabled": True,
        "protocol": "openid-connect",
        "publicClient": False,
        "serviceAccountsEnabled": True,
        "standardFlowEnabled": False,
        "implicitFlowEnabled": False,
        "directAccessGrantsEnabled": False,
        "protocolMappers": [
            {
                "name": "gateway-audience",
                "protocol": "openid-connect",
                "protocolMapper": "oidc-audience-mapper",
                "config": {
                    "included.client.audience": audience,
                    "access.token.claim": "true",
                },
            }
        ],
    }


class KeycloakProvisioner:
    def __init__(self, admin: KeycloakAdmin, *, audience: str) -> None:
        self.admin = admin
        self.audience = audience

    async def create_agency_client(self, *, client_id: str, name: str) -> str:
        """Create the client (idempotent) and give its service account the realm role `agency`
        (a new service account holds only the realm's defaults); returns Keycloak's internal id
        of the client."""
        payload = agency_client_payload(client_id=client_id, name=name, audience=self.audience)
        internal_id = str(await self.admin.a_create_client(payload, skip_exists=True))
        account = await self.admin.a_get_client_service_account_user(internal_id)
        role = await self.admin.a_get_realm_role(AGENCY)
        await self.admin.a_assign_realm_roles(account["id"], [role])
        return internal_id

    async def set_agency_enabled(self, *, client_id: str, enabled: bool) -> None:
        internal_id = await self.admin.a_get_client_id(client_id)
        if internal_id is None:
            raise LookupError(f"no Keycloak client {client_id!r}")
        await self.admin.a_update_client(internal_id, {"enabled": enabled})


def keycloak_provisioner(settings: Settings) -> KeycloakProvisioner:
    """The realm's Admin REST API, as the provisioning client (client credentials)."""
    secret = settings.keycloak_admin_client_secret.get_secret_value()
    if not settings.keycloak_url or not secret:
        raise ProvisioningUnavailable(
            "Keycloak provisioning needs LIENTHONG_KEYCLOAK_URL and "
            "LIENTHONG_KEYCLOAK_ADMIN_CLIENT_SECRET"
        )
    admin = KeycloakAdmin(
        server_url=settings.keycloak_server_url.rstrip("/") + "/",  # the internal URL when set
        realm_name=settings.keycloak_realm,
        client_id=settings.keycloak_admin_client_id,
        client_secret_key=secret,
        timeout=5,
    )
    return KeycloakProvisioner(admin, audience=settings.keycloak_audience)

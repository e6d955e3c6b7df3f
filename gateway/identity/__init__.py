"""Identity: OAuth2 access tokens (Keycloak in production, an embedded dev issuer by default)."""

"""Authentication failures. The message says what is wrong with the token, never its content."""

from __future__ import annotations


class AuthenticationError(Exception):
    """The request's token is missing, malformed, expired, or not from a trusted issuer.

    The gateway answers UNAUTHENTICATED with this message and nothing else."""

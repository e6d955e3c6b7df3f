"""Signed answers: the gateway's signature over what it answered and what it logged."""

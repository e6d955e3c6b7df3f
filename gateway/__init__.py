"""Liên Thông gateway: GraphQL, identity, policy enforcement, access log, admin API."""

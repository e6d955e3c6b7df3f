"""Liên Thông platform: settings, logging, the embedded database cluster and the `lienthong` CLI."""

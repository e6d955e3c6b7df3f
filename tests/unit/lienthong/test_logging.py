"""Plain logs: written to whatever stderr is when a line is logged."""

from __future__ import annotations

import io

import pytest
import structlog

from lienthong.logging import configure_logging
from lienthong.settings import Settings


def test_a_cached_logger_follows_a_swapped_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr("sys.stderr", first)
    configure_logging(Settings(log_json=True))
    log = structlog.get_logger("test")
    log.info("one")
    first.close()  # as a test runner's capture is closed when its test ends
    monkeypatch.setattr("sys.stderr", second)
    log.info("two")
    assert '"event": "two"' in second.getvalue()

"""Fixtures for the report delivery tests: a real SFTP server (`sftp_server.py`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.regapi.reports.sftp_server import SftpServer, running_sftp_server


@pytest.fixture
def sftp_server(tmp_path: Path) -> Iterator[SftpServer]:
    """A real SFTP server on a free local port, serving a temporary directory."""
    with running_sftp_server(tmp_path / "sftp") as server:
        yield server

"""A real SFTP server for tests (asyncssh), on 127.0.0.1 and a free port, serving a
temporary directory as its root, in a thread with its own event loop so that it answers
while the test's loop waits on the client.

It accepts one client key (written next to the root, not inside it) and presents a host key
of its own; `ops` records what clients did (open, rename…, with the paths they named), and a
test may make it refuse things: writes under a directory, the n-th file opened for writing,
or OpenSSH's posix-rename.

Use `running_sftp_server(path)` from any test package, or the `sftp_server` fixture that
`tests/regapi/reports/conftest.py` makes of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncssh

from regapi.reports.config import SftpTarget

USER = "casino"


def new_key_file(path: Path) -> str:
    """Write a new Ed25519 client key (OpenSSH format, 0600) to `path`; returns its public
    key as an OpenSSH line."""
    key = asyncssh.generate_private_key("ssh-ed25519")
    key.write_private_key(path)
    path.chmod(0o600)
    public: bytes = key.export_public_key("openssh")
    return public.decode().strip()


def new_host_key_line() -> str:
    """Some other server's host key, as an OpenSSH line."""
    public: bytes = asyncssh.generate_private_key("ssh-ed25519").export_public_key("openssh")
    return public.decode().strip()


@dataclass
class SftpServer:
    host: str
    port: int
    host_key: str  # the server's public key, an OpenSSH line
    client_key: Path  # the private key it lets in
    root: Path  # what clients see as "/"
    ops: list[tuple[str, str]] = field(default_factory=list)
    # Refusals a test may switch on.
    readonly: tuple[str, ...] = ()  # virtual directories under which writes are refused
    fail_open_after: int | None = None  # refuse every write-open after this many
    posix_rename: bool = True
    opened_for_write: int = 0
    _runner: _Runner | None = field(default=None, repr=False)

    def target(
        self,
        directory: str = "/incoming",
        *,
        host_key: str | None = None,
        key_file: Path | None = None,
        port: int | None = None,
    ) -> SftpTarget:
        """A market's `sftp` configuration pointing here (or, with overrides, not quite)."""
        return SftpTarget(
            host=self.host,
            port=self.port if port is None else port,
            username=USER,
            key_file=self.client_key if key_file is None else key_file,
            host_key=self.host_key if host_key is None else host_key,
            directory=directory,
        )

    def files(self) -> dict[str, bytes]:
        """Every file under the root, by its path as clients see it."""
        return {
            "/" + p.relative_to(self.root).as_posix(): p.read_bytes()
            for p in sorted(self.root.rglob("*"))
            if p.is_file()
        }

    def stop(self) -> None:
        """Close the listener (clients then get connection refused)."""
        if self._runner is not None:
            self._runner.close()
            self._runner = None


class _Recording(asyncssh.SFTPServer):
    def __init__(self, chan: asyncssh.SSHServerChannel[bytes], server: SftpServer) -> None:
        super().__init__(chan, chroot=bytes(server.root))
        self._server = server

    def _record(self, op: str, path: bytes) -> str:
        text = path.decode()
        self._server.ops.append((op, text))
        return text

    def _refuse_write(self, path: str) -> None:
        for directory in self._server.readonly:
            if path == directory or path.startswith(directory.rstrip("/") + "/"):
                raise asyncssh.SFTPPermissionDenied(f"{path}: permission denied")

    def open(self, path: bytes, pflags: int, attrs: asyncssh.SFTPAttrs) -> object:
        text = self._record("open", path)
        if pflags & asyncssh.FXF_WRITE:
            self._refuse_write(text)
            s = self._server
            if s.fail_open_after is not None and s.opened_for_write >= s.fail_open_after:
                raise asyncssh.SFTPFailure(f"{text}: no space left on device")
            s.opened_for_write += 1
        return super().open(path, pflags, attrs)

    def mkdir(self, path: bytes, attrs: asyncssh.SFTPAttrs) -> None:
        self._refuse_write(self._record("mkdir", path))
        super().mkdir(path, attrs)

    def rename(self, oldpath: bytes, newpath: bytes) -> None:
        self._record("rename", oldpath + b" -> " + newpath)
        super().rename(oldpath, newpath)

    def posix_rename(self, oldpath: bytes, newpath: bytes) -> None:
        self._record("posix_rename", oldpath + b" -> " + newpath)
        if not self._server.posix_rename:
            raise asyncssh.SFTPOpUnsupported("posix-rename is not supported here")
        super().posix_rename(oldpath, newpath)

    def remove(self, path: bytes) -> None:
        self._record("remove", path)
        super().remove(path)


class _Runner:
    """The listener, in a thread with its own loop."""

    def __init__(self, server: SftpServer, host_key: asyncssh.SSHKey, authorized: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

        async def listen() -> Any:
            return await asyncssh.listen(
                server.host,
                server.port,
                server_host_keys=[host_key],
                authorized_client_keys=asyncssh.import_authorized_keys(authorized + "\n"),
                sftp_factory=lambda chan: _Recording(chan, server),
                allow_scp=False,
                config=None,
            )

        self._acceptor: Any = asyncio.run_coroutine_threadsafe(listen(), self._loop).result(10)

    def port(self) -> int:
        port: int = self._acceptor.get_port()
        return port

    def close(self) -> None:
        async def shut() -> None:
            self._acceptor.close()
            await self._acceptor.wait_closed()

        try:
            asyncio.run_coroutine_threadsafe(shut(), self._loop).result(10)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()


@contextlib.contextmanager
def running_sftp_server(path: Path) -> Iterator[SftpServer]:
    """An SFTP server serving `path/root`; its client key is `path/client_key`."""
    path.mkdir(parents=True, exist_ok=True)
    root = path / "root"
    root.mkdir()
    client_key = path / "client_key"
    authorized = new_key_file(client_key)
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    server = SftpServer(
        host="127.0.0.1",
        port=0,
        host_key=host_key.export_public_key("openssh").decode().strip(),
        client_key=client_key,
        root=root,
    )
    runner = _Runner(server, host_key, authorized)
    server.port = runner.port()
    server._runner = runner
    try:
        yield server
    finally:
        server.stop()

"""Uploading a run's files to a regulator's SFTP server (asyncssh).

The server is known by one key only: the `host_key` line of the market's configuration.
Any other key, whatever known_hosts or a DNS record might say, refuses the connection:
a report handed to the wrong server cannot be taken back. The client logs in with its own
key file and nothing else (no agent, no ~/.ssh, no password).

Each file is written as `<name>.part` and renamed once complete, so a regulator that picks
up files as they appear never reads half of one; the rename replaces a file of the same
name, so uploading again after a failure part-way (the retry) writes over what the first
attempt left.
"""

from __future__ import annotations

import asyncio
import contextlib
import posixpath
import re
from collections.abc import Sequence
from typing import Final

import asyncssh

from regapi.reports.config import SftpTarget

PART_SUFFIX: Final = ".part"
# A directory segment or file name: what report_files allows (no '/', no leading dot).
_SEGMENT: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")


class DeliveryError(Exception):
    """An upload that did not complete; the message is one line, fit for a row's
    `last_error`, and never holds key material."""


def _where(target: SftpTarget) -> str:
    return f"sftp {target.username}@{target.host}:{target.port}"


def remote_directory(target: SftpTarget, directory: str) -> str:
    """`directory` (relative, e.g. `MGA/monthly/2026-01`) under the target's directory."""
    segments = directory.strip("/").split("/")
    for segment in segments:
        if not _SEGMENT.fullmatch(segment):
            raise DeliveryError(f"directory {directory!r}: {segment!r} is not a safe path segment")
    return posixpath.join(target.directory, *segments)


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _keys(target: SftpTarget) -> tuple[asyncssh.SSHKey, asyncssh.SSHKey]:
    try:
        host_key = asyncssh.import_public_key(target.host_key)
    except (asyncssh.KeyImportError, ValueError) as exc:
        raise DeliveryError(f"host_key is not an OpenSSH public key: {_one_line(exc)}") from None
    try:
        client_key = asyncssh.read_private_key(target.key_file)
    except OSError as exc:
        raise DeliveryError(
            f"cannot read the SFTP client key {target.key_file}: {exc.strerror}"
        ) from None
    except (asyncssh.KeyImportError, asyncssh.KeyEncryptionError):
        raise DeliveryError(
            f"{target.key_file} is not an unencrypted SSH private key (OpenSSH or PKCS#8)"
        ) from None
    return host_key, client_key


async def upload(
    target: SftpTarget, directory: str, files: Sequence[tuple[str, bytes]], *, timeout_s: float
) -> list[str]:
    """Put each `(name, content)` in `directory` (relative to `target.directory`, created
    as needed), in order; returns the remote paths. `DeliveryError` on any failure, saying
    what failed in one line; the whole upload takes at most `timeout_s`."""
    base = remote_directory(target, directory)
    for name, _ in files:
        if not _SEGMENT.fullmatch(name):
            raise DeliveryError(f"{name!r} is not a file name")
    host_key, client_key = _keys(target)
    where = _where(target)
    try:
        async with asyncio.timeout(timeout_s):
            async with (
                asyncssh.connect(
                    target.host,
                    target.port,
                    username=target.username,
                    # Pinned: this key and no other, for whatever name the host is reached by.
                    known_hosts=([host_key], [], []),
                    client_keys=[client_key],
                    agent_path=None,
                    preferred_auth="publickey",
                    config=None,
                    connect_timeout=timeout_s,
                ) as conn,
                conn.start_sftp_client() as sftp,
            ):
                return await _put(sftp, base, files, where)
    except DeliveryError:
        raise
    except TimeoutError:
        raise DeliveryError(f"{where}: not done within {timeout_s:g} s") from None
    except asyncssh.HostKeyNotVerifiable:
        raise DeliveryError(
            f"{where}: the server's host key is not the configured host_key (refused)"
        ) from None
    except asyncssh.PermissionDenied:
        raise DeliveryError(
            f"{where}: authentication refused for user {target.username!r} with the key "
            f"{target.key_file}"
        ) from None
    except asyncssh.SFTPError as exc:
        raise DeliveryError(f"{where}: {_one_line(exc.reason)}") from None
    except asyncssh.DisconnectError as exc:
        raise DeliveryError(f"{where}: disconnected: {_one_line(exc.reason)}") from None
    except asyncssh.ChannelOpenError as exc:
        raise DeliveryError(f"{where}: no SFTP session: {_one_line(exc.reason)}") from None
    except ConnectionRefusedError:
        raise DeliveryError(f"{where}: connection refused") from None
    except OSError as exc:
        raise DeliveryError(f"{where}: {_one_line(exc.strerror or exc)}") from None
    except asyncssh.Error as exc:
        raise DeliveryError(f"{where}: {_one_line(exc)}") from None


async def _put(
    sftp: asyncssh.SFTPClient, base: str, files: Sequence[tuple[str, bytes]], where: str
) -> list[str]:
    step = f"create directory {base}"
    try:
        await sftp.makedirs(base, exist_ok=True)
        paths = []
        for name, content in files:
            final = posixpath.join(base, name)
            part = final + PART_SUFFIX
            step = f"write {part}"
            # "wb" truncates what an earlier, failed attempt left under the same name.
            async with sftp.open(part, "wb") as out:
                await out.write(content)
            size = (await sftp.stat(part)).size
            if size != len(content):
                raise DeliveryError(
                    f"{where}: {part} holds {size} bytes after writing {len(content)}"
                )
            step = f"rename {part} to {final}"
            await _replace(sftp, part, final)
            paths.append(final)
        return paths
    except asyncssh.SFTPError as exc:
        raise DeliveryError(f"{where}: {step}: {_one_line(exc.reason)}") from None


async def _replace(sftp: asyncssh.SFTPClient, part: str, final: str) -> None:
    """Rename `part` over `final`: in one step where the server can (OpenSSH's
    posix-rename), else by removing `final` first (a reader may then miss the file for a
    moment, but never sees half of one)."""
    try:
        await sftp.posix_rename(part, final)
        return
    except asyncssh.SFTPOpUnsupported:
        pass
    with contextlib.suppress(asyncssh.SFTPNoSuchFile):
        await sftp.remove(final)
    await sftp.rename(part, final)

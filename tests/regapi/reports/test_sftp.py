"""Uploading over SFTP to a real server (asyncssh, on a local port): nested directories,
files that appear only whole, uploading again after a failure, and every refusal as one
clear line."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from regapi.reports.sftp import DeliveryError, upload
from tests.regapi.reports.sftp_server import SftpServer, new_host_key_line, new_key_file

DIRECTORY = "MGA/monthly/2026-01"
BASE = "/incoming/MGA/monthly/2026-01"
FILES = [
    ("MGA_monthly_2026-01.csv", b"market,ggr\r\nMGA,123456\r\n"),
    ("MGA_monthly_2026-01.pdf", bytes(range(256)) * 4096),  # 1 MiB: many SFTP writes
    ("MGA_monthly_2026-01.manifest.json", b'{"files":[]}'),
]


async def test_files_land_whole_in_a_nested_directory(sftp_server: SftpServer) -> None:
    paths = await upload(sftp_server.target(), DIRECTORY, FILES, timeout_s=10)
    assert paths == [f"{BASE}/{name}" for name, _ in FILES]
    assert sftp_server.files() == {f"{BASE}/{name}": content for name, content in FILES}
    # Each file was written under a .part name, then renamed in one step.
    writes = [(op, path) for op, path in sftp_server.ops if op in ("open", "posix_rename")]
    assert writes == [
        step
        for name, _ in FILES
        for step in (
            ("open", f"{BASE}/{name}.part"),
            ("posix_rename", f"{BASE}/{name}.part -> {BASE}/{name}"),
        )
    ]


async def test_without_posix_rename_the_old_file_is_removed_then_replaced(
    sftp_server: SftpServer,
) -> None:
    await upload(sftp_server.target(), DIRECTORY, FILES[:1], timeout_s=10)
    sftp_server.posix_rename = False
    sftp_server.ops.clear()
    name = FILES[0][0]
    await upload(sftp_server.target(), DIRECTORY, [(name, b"corrected\r\n")], timeout_s=10)
    assert sftp_server.files() == {f"{BASE}/{name}": b"corrected\r\n"}
    assert [op for op, _ in sftp_server.ops if op != "mkdir"] == [
        "open",
        "posix_rename",  # refused by the server
        "remove",
        "rename",
    ]


async def test_uploading_again_after_a_failure_part_way_completes(
    sftp_server: SftpServer,
) -> None:
    sftp_server.fail_open_after = 1
    with pytest.raises(DeliveryError) as failed:
        await upload(sftp_server.target(), DIRECTORY, FILES, timeout_s=10)
    assert str(failed.value) == (
        f"sftp casino@127.0.0.1:{sftp_server.port}: write {BASE}/{FILES[1][0]}.part: "
        f"{BASE}/{FILES[1][0]}.part: no space left on device"
    )
    assert list(sftp_server.files()) == [f"{BASE}/{FILES[0][0]}"]
    # As a connection dropped mid-write would leave it.
    (sftp_server.root / BASE.lstrip("/") / f"{FILES[1][0]}.part").write_bytes(b"half")

    sftp_server.fail_open_after = None
    await upload(sftp_server.target(), DIRECTORY, FILES, timeout_s=10)
    assert sftp_server.files() == {f"{BASE}/{name}": content for name, content in FILES}


async def test_another_host_key_is_refused_before_anything_is_sent(
    sftp_server: SftpServer,
) -> None:
    target = sftp_server.target(host_key=new_host_key_line())
    with pytest.raises(DeliveryError, match="the server's host key is not the configured"):
        await upload(target, DIRECTORY, FILES, timeout_s=10)
    assert sftp_server.ops == []
    assert sftp_server.files() == {}


async def test_a_client_key_the_server_does_not_know_is_refused(
    sftp_server: SftpServer, tmp_path: Path
) -> None:
    new_key_file(tmp_path / "other_key")
    target = sftp_server.target(key_file=tmp_path / "other_key")
    with pytest.raises(DeliveryError) as refused:
        await upload(target, DIRECTORY, FILES, timeout_s=10)
    assert str(refused.value) == (
        f"sftp casino@127.0.0.1:{sftp_server.port}: authentication refused for user "
        f"'casino' with the key {tmp_path / 'other_key'}"
    )
    assert sftp_server.files() == {}


async def test_a_stopped_server_is_connection_refused(sftp_server: SftpServer) -> None:
    sftp_server.stop()
    with pytest.raises(DeliveryError) as refused:
        await upload(sftp_server.target(), DIRECTORY, FILES, timeout_s=10)
    assert str(refused.value) == f"sftp casino@127.0.0.1:{sftp_server.port}: connection refused"


async def test_a_directory_the_account_may_not_write_is_permission_denied(
    sftp_server: SftpServer,
) -> None:
    sftp_server.readonly = ("/incoming/MGA",)
    with pytest.raises(DeliveryError, match=r"create directory .*: permission denied"):
        await upload(sftp_server.target(), DIRECTORY, FILES, timeout_s=10)
    assert sftp_server.files() == {}


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections and then says nothing."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


async def test_a_server_that_never_answers_times_out(
    sftp_server: SftpServer, silent_port: int
) -> None:
    with pytest.raises(DeliveryError, match=r":\d+: not done within 0.3 s"):
        await upload(sftp_server.target(port=silent_port), DIRECTORY, FILES, timeout_s=0.3)


@pytest.mark.parametrize(
    ("key_file", "message"),
    [
        ("missing", "cannot read the SFTP client key .*missing: No such file or directory"),
        ("garbage", "garbage is not an unencrypted SSH private key"),
    ],
)
async def test_an_unusable_client_key_is_named(
    sftp_server: SftpServer, tmp_path: Path, key_file: str, message: str
) -> None:
    (tmp_path / "garbage").write_text("not a key\n")
    with pytest.raises(DeliveryError, match=message):
        await upload(
            sftp_server.target(key_file=tmp_path / key_file), DIRECTORY, FILES, timeout_s=10
        )


@pytest.mark.parametrize(
    ("directory", "files", "message"),
    [
        ("MGA/../../etc", FILES, "'..' is not a safe path segment"),
        ("", FILES, "'' is not a safe path segment"),
        (DIRECTORY, [("../escape.csv", b"")], "'../escape.csv' is not a file name"),
    ],
)
async def test_unsafe_names_are_refused(
    sftp_server: SftpServer, directory: str, files: list[tuple[str, bytes]], message: str
) -> None:
    with pytest.raises(DeliveryError, match=message):
        await upload(sftp_server.target(), directory, files, timeout_s=10)
    assert sftp_server.ops == []


async def test_a_host_key_that_is_not_a_key_is_named(sftp_server: SftpServer) -> None:
    target = sftp_server.target(host_key="ssh-ed25519 AAAAnotakey")
    with pytest.raises(DeliveryError, match="host_key is not an OpenSSH public key"):
        await upload(target, DIRECTORY, FILES, timeout_s=10)

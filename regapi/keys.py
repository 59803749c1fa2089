"""Where the personal-data keys come from: key files (or their JSON in the environment),
never the database.

Each purpose has its own ring (`pii` for profile fields, `kyc_media` for identity
documents), so a leak of one does not open the other. Key files are written owner-only
(0600) and whole (a temporary file renamed over the old one), so a crash while adding a
key never leaves a half-written ring behind. In development, with no key configured, a
ring is generated under `<data dir>/keys/` and the start says so loudly; production
refuses to start without configured keys (`pitboss.service.settings`).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

import structlog

from regapi.crypto import CryptoError, KeyRing, ring_from_json, ring_to_json, with_new_key

log = structlog.get_logger("regapi.keys")


@dataclass(frozen=True)
class Keys:
    pii: KeyRing  # profile fields and their blind indexes
    kyc_media: KeyRing  # identity documents


@dataclass(frozen=True, kw_only=True)
class KeySource:
    """Where one purpose's ring is configured: a file, or its JSON text (environment)."""

    file: Path | None = None
    text: str | None = None
    variable: str  # the setting's variable, named in messages


def read_key_file(path: Path, purpose: str) -> KeyRing:
    try:
        info = path.stat()
        text = path.read_text("utf-8")
    except OSError as exc:
        raise CryptoError(f"{path}: cannot read the {purpose} key file: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise CryptoError(f"{path}: not UTF-8 text") from None
    warn_if_shared(path, info.st_mode)
    return ring_from_json(text, purpose, source=str(path))


def warn_if_shared(path: Path, mode: int) -> None:
    """Log a warning if a key file's `mode` lets other users read it. Not refused: mounted
    secrets (Kubernetes, Docker) are often 0644 inside a directory only the service can
    enter. Said, so that a stray copy is noticed."""
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning(
            "key_file_permissions",
            path=str(path),
            mode=oct(stat.S_IMODE(mode)),
            hint="other users may read it: chmod 600",
        )


def write_key_file(path: Path, ring: KeyRing) -> None:
    """Write the ring to `path`, owner read/write only, replacing any file whole."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(ring_to_json(ring))
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o600)  # O_CREAT's mode is masked by the umask; this is not
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def add_key(path: Path, purpose: str) -> KeyRing:
    """Create the key file with one key, or add a new current key to it (rotation)."""
    ring = read_key_file(path, purpose) if path.exists() else None
    ring = with_new_key(ring, purpose)
    write_key_file(path, ring)
    return ring


def dev_key_path(data_dir: Path, purpose: str) -> Path:
    return data_dir / "keys" / f"{purpose}.json"


def _ring(purpose: str, source: KeySource, *, data_dir: Path, production: bool) -> KeyRing:
    if source.file is not None and source.text is not None:
        raise CryptoError(
            f"{source.variable}: give the {purpose} keys as a file or as JSON, not both"
        )
    if source.text is not None:
        return ring_from_json(source.text, purpose, source=source.variable)
    if source.file is not None:
        embedded_pg = (data_dir / "pg").resolve()
        if source.file.resolve().is_relative_to(embedded_pg):
            raise CryptoError(
                f"{source.variable}: {source.file} is inside the database's own folder; "
                "keep keys apart from the data they protect"
            )
        return read_key_file(source.file, purpose)
    if production:
        raise CryptoError(f"{source.variable}: production needs the {purpose} keys configured")
    path = dev_key_path(data_dir, purpose)
    if path.exists():
        ring = read_key_file(path, purpose)
    else:
        ring = add_key(path, purpose)
        log.warning("dev_keys_generated", purpose=purpose, path=str(path))
    log.warning(
        "DEVELOPMENT KEYS IN USE",
        purpose=purpose,
        path=str(path),
        hint=f"personal data is encrypted under a key generated beside the data; set "
        f"{source.variable} to a key file kept elsewhere (`pitboss keys pii-new`) - "
        "production refuses to start without it",
    )
    return ring


def load_keys(*, pii: KeySource, kyc_media: KeySource, data_dir: Path, production: bool) -> Keys:
    """Both rings, from their configured sources or (development only) generated."""
    keys = Keys(
        pii=_ring("pii", pii, data_dir=data_dir, production=production),
        kyc_media=_ring("kyc_media", kyc_media, data_dir=data_dir, production=production),
    )
    shared = {k.secret for k in keys.pii.keys.values()} & {
        k.secret for k in keys.kyc_media.keys.values()
    }
    if shared:
        raise CryptoError(
            f"{kyc_media.variable}: KYC media must have keys of its own; a key is also a pii key"
        )
    return keys

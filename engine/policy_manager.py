"""Which policy version is live, which run in shadow, and switching between them.

Switching the live version (activate, roll back) or the set of shadow versions rebuilds
the engine's window state under the new kernels from every stored event; ingestion
answers 503 while that runs. Compiling happens off the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import asyncpg
import structlog

from engine import policy_versions as pv
from engine.ingest import Ingestor
from engine.runtime import CompiledPack
from engine.store import policies as store
from regapi import audit

log = structlog.get_logger("pitboss.policies")


class PolicyNotFoundError(LookupError):
    def __init__(self, what: str) -> None:
        super().__init__(what)


class PolicyStateError(Exception):
    """A policy operation that the version's state forbids (e.g. activating a broken one)."""


# Compiled packs by the digest of their files, shared by every manager in the process: a
# compiled pack holds no state (each engine builds its own), and loading one, even from
# the kernel cache on disk, is most of a service's start.
_COMPILED: dict[str, CompiledPack] = {}
_COMPILED_MAX = 8


class PolicyManager:
    def __init__(self, pool: asyncpg.Pool, data_dir: Path) -> None:
        self.pool = pool
        self.folder = data_dir / "policies"
        self.lock = asyncio.Lock()
        self._packs: dict[int, CompiledPack] = {}
        self.ingestor: Ingestor | None = None

    async def pack(self, version_id: int) -> CompiledPack:
        if version_id not in self._packs:
            async with self.pool.acquire() as conn:
                row = await store.get(conn, version_id)
            if row is None:
                raise PolicyNotFoundError(f"policy version {version_id}")
            compiled = _COMPILED.get(row.digest)
            if compiled is None:
                folder = pv.materialize(row.files, self._folder_of(row))
                loop = asyncio.get_running_loop()
                compiled = await loop.run_in_executor(None, pv.compile_folder, folder)
                _COMPILED[row.digest] = compiled
                if len(_COMPILED) > _COMPILED_MAX:
                    _COMPILED.pop(next(iter(_COMPILED)))
            self._packs[version_id] = compiled
        return self._packs[version_id]

    async def bootstrap(self, pack_dir: Path) -> tuple[CompiledPack, int, dict[int, CompiledPack]]:
        """The live pack, its version and the shadow packs; installs `pack_dir` as version 1
        when the database has no live version yet."""
        async with self.pool.acquire() as conn:
            live = await store.live(conn)
            if live is None:
                files = pv.read_pack_dir(pack_dir)
                ok, issues = pv.check_files(files)
                if not ok:
                    raise PolicyStateError(
                        f"the pack in {pack_dir} has errors; run `pitboss check`"
                    )
                async with conn.transaction():
                    row = await store.insert(
                        conn,
                        files=files,
                        digest=pv.digest(files),
                        ok=ok,
                        issues=[_plain(i) for i in issues],
                        by="system",
                        note=f"installed from {pack_dir}",
                    )
                    await store.activate(conn, row.id, "system", "activate")
                    await _audit_version(conn, row, "system")
                    await _audit_live(conn, None, row.id, "activate", "system")
                live = row.id
                log.info("policy_installed", version=live, folder=str(pack_dir))
            shadow_ids = await store.shadow_ids(conn)
        shadows = {v: await self.pack(v) for v in shadow_ids if v != live}
        return await self.pack(live), live, shadows

    async def upload(self, files: dict[str, str], by: str, note: str) -> store.VersionRow:
        loop = asyncio.get_running_loop()
        ok, issues = await loop.run_in_executor(None, pv.check_files, files)
        async with self.pool.acquire() as conn, conn.transaction():
            row = await store.insert(
                conn,
                files=files,
                digest=pv.digest(files),
                ok=ok,
                issues=[_plain(i) for i in issues],
                by=by,
                note=note,
            )
            await _audit_version(conn, row, by)
            return row

    async def version(self, version_id: int) -> store.VersionRow:
        async with self.pool.acquire() as conn:
            row = await store.get(conn, version_id)
        if row is None:
            raise PolicyNotFoundError(f"policy version {version_id}")
        return row

    async def run_tests(self, version_id: int) -> list[pv.TestResult]:
        row = await self.version(version_id)
        if not row.ok:
            raise PolicyStateError(f"version {version_id} has errors; fix them before testing")
        folder = pv.materialize(row.files, self._folder_of(row))
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, pv.run_tests, folder)

    def _folder_of(self, row: store.VersionRow) -> Path:
        # Named by content as well as id: a data folder reused with another database
        # must not mix an old version's files into a new one's.
        return self.folder / f"v{row.id}-{row.digest[:16]}"

    async def activate(self, version_id: int, by: str, kind: str = "activate") -> None:
        async with self.lock:
            await self._activate(version_id, by, kind)

    async def _activate(self, version_id: int, by: str, kind: str) -> None:
        """Switch the engine first, then record the activation: the record never names a
        version that is not live. If recording fails, the previous version goes back."""
        assert self.ingestor is not None
        row = await self.version(version_id)
        if not row.ok:
            raise PolicyStateError(f"version {version_id} has errors and cannot go live")
        pack = await self.pack(version_id)
        async with self.pool.acquire() as conn:
            shadow_ids = [v for v in await store.shadow_ids(conn) if v != version_id]
        shadows = {v: await self.pack(v) for v in shadow_ids}
        before = (self.ingestor.pack, self.ingestor.version_id, self.ingestor.shadow_packs)
        await self.ingestor.switch(pack, version_id, shadows)
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                await store.activate(conn, version_id, by, kind)
                if row.shadow:
                    await store.set_shadow(conn, version_id, False)
                    await _audit_version(conn, row, by, shadow=False)
                await _audit_live(conn, before[1], version_id, kind, by)
        except BaseException:
            await self.ingestor.switch(*before)
            raise
        log.info("policy_activated", version=version_id, by=by, kind=kind)

    async def rollback(self, by: str) -> int:
        """Make the version that was live before the current one live again."""
        async with self.lock:
            async with self.pool.acquire() as conn:
                rows = await store.history(conn)
            current = rows[-1]["version_id"] if rows else None
            earlier = next(
                (r["version_id"] for r in reversed(rows) if r["version_id"] != current), None
            )
            if earlier is None:
                raise PolicyStateError("there is no earlier live version to roll back to")
            await self._activate(int(earlier), by, "rollback")
            return int(earlier)

    async def set_shadow(self, version_id: int, on: bool, by: str = "api") -> None:
        assert self.ingestor is not None
        async with self.lock:
            row = await self.version(version_id)
            if on and not row.ok:
                raise PolicyStateError(f"version {version_id} has errors and cannot run")
            if on and version_id == self.ingestor.version_id:
                raise PolicyStateError(f"version {version_id} is live already")
            if on:
                await self.pack(version_id)
            async with self.pool.acquire() as conn:
                async with conn.transaction():
                    await store.set_shadow(conn, version_id, on)
                    if row.shadow != on:
                        await _audit_version(conn, row, by, shadow=on)
                shadow_ids = await store.shadow_ids(conn)
            shadows = {v: await self.pack(v) for v in shadow_ids}
            await self.ingestor.switch(self.ingestor.pack, self.ingestor.version_id, shadows)


# The audit trail (entity "policy"): each version by its id, and "live", which version is
# live. In the transaction of the change they record.


def _audited(row: store.VersionRow, shadow: bool) -> dict[str, object]:
    files = {path: hashlib.sha256(text.encode()).hexdigest() for path, text in row.files.items()}
    return {"digest": row.digest, "files": files, "note": row.note, "ok": row.ok,
            "shadow": shadow}  # fmt: skip


async def _audit_version(
    conn: asyncpg.Connection, row: store.VersionRow, by: str, *, shadow: bool | None = None
) -> None:
    """A new version (shadow None), or its shadow switched to `shadow`."""
    if shadow is None:
        await audit.record(conn, entity="policy", entity_id=str(row.id), action="create",
                           actor=by, before=None, after=_audited(row, row.shadow))  # fmt: skip
    else:
        await audit.record(conn, entity="policy", entity_id=str(row.id), action="update",
                           actor=by, before=_audited(row, row.shadow),
                           after=_audited(row, shadow))  # fmt: skip


async def _audit_live(
    conn: asyncpg.Connection, previous: int | None, version_id: int, kind: str, by: str
) -> None:
    last = await audit.latest(conn, "policy", "live")
    # A database older than the audit trail has a live version and no record of it yet.
    before = last.after if last is not None else None
    if before is None and previous is not None:
        before = {"version": previous}
    await audit.record(conn, entity="policy", entity_id="live",
                       action="create" if before is None else "update", actor=by,
                       before=before, after={"version": version_id, "kind": kind})  # fmt: skip


def _plain(issue: pv.IssueOut) -> dict[str, object]:
    import msgspec

    out: dict[str, object] = msgspec.to_builtins(issue)
    return out

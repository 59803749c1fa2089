"""Policy versions: a pack's files checked as uploaded, compiled when used.

A version is a set of files (`.pol` policies and the list files they read) stored in the
database. Checking is static and fast; the inline tests need the kernels compiled, so they
run on request. A version's files are written to `<data_dir>/policies/v<id>/` to compile
them, because policies name their list files by relative path.
"""

from __future__ import annotations

import hashlib
import posixpath
import shutil
import tempfile
from collections import OrderedDict
from pathlib import Path, PurePosixPath

import msgspec

import dsl
from dsl.errors import Issue, PolicySyntaxError
from engine.events import Login
from engine.runtime import CompiledPack, StreamEngine, load_pack

MAX_FILES = 200
MAX_FILE_BYTES = 1_000_000


class VersionError(ValueError):
    """Files that cannot form a version; `field` names the offending file."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class IssueOut(msgspec.Struct, kw_only=True):
    code: str
    severity: str
    message: str
    file: str
    line: int
    col: int
    hint: str | None = None


def _issue(issue: Issue) -> IssueOut:
    return IssueOut(
        code=issue.code.value,
        severity=issue.severity.value,
        message=issue.message,
        file=issue.location.path,
        line=issue.location.line,
        col=issue.location.col,
        hint=issue.hint,
    )


def validate_files(files: dict[str, str]) -> None:
    if not any(name.endswith(".pol") for name in files):
        raise VersionError("a version needs at least one .pol file", field="files")
    if len(files) > MAX_FILES:
        raise VersionError(f"at most {MAX_FILES} files", field="files")
    for name, text in files.items():
        path = PurePosixPath(name)
        if path.is_absolute() or ".." in path.parts or not path.parts or "\\" in name:
            raise VersionError(f"{name!r} must be a relative path inside the pack",
                               field=f"files.{name}")  # fmt: skip
        if len(text.encode()) > MAX_FILE_BYTES:
            raise VersionError(f"{name} is larger than {MAX_FILE_BYTES} bytes",
                               field=f"files.{name}")  # fmt: skip
        if name.endswith(".pol"):
            _confine_lists(name, text)
    folders = {str(p) for name in files for p in PurePosixPath(name).parents}
    for name in files:
        if name in folders:
            raise VersionError(f"{name!r} is a file and also a folder of other files",
                               field=f"files.{name}")  # fmt: skip


def _confine_lists(name: str, text: str) -> None:
    """A policy reads list files of its version only: checking reads them and quotes bad
    lines, so a path out of the version would show the server's own files."""
    try:
        policy = dsl.parse(text, name)
    except PolicySyntaxError:
        return  # the check reports it
    folder = posixpath.dirname(name)
    for decl in policy.lists:
        if decl.file is None:
            continue
        ref = decl.file.value
        target = posixpath.normpath(posixpath.join(folder, ref))
        if posixpath.isabs(ref) or "\\" in ref or target == ".." or target.startswith("../"):
            raise VersionError(f"{name}: list {decl.name.name} reads {ref!r}, outside the version",
                               field=f"files.{name}")  # fmt: skip


def digest(files: dict[str, str]) -> str:
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode() + b"\0" + files[name].encode() + b"\0")
    return h.hexdigest()


def materialize(files: dict[str, str], folder: Path) -> Path:
    """Write a version's files into `folder` (named by the caller after their content),
    whole or not at all: written beside it, then renamed into place, so a reader never
    sees half a pack and two writers do not trip over each other."""
    if folder.exists():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}-"))
    for name, text in files.items():
        target = staging / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    try:
        staging.rename(folder)
    except OSError:  # another writer got there first, with the same files
        shutil.rmtree(staging, ignore_errors=True)
    return folder


# Checks of file sets already seen, by digest: the same pack is checked again whenever a
# database is new (every test, every fresh install) and parsing it is most of a start.
_CHECKED: OrderedDict[str, tuple[bool, tuple[IssueOut, ...]]] = OrderedDict()
_CHECKED_MAX = 16


def check_files(files: dict[str, str]) -> tuple[bool, list[IssueOut]]:
    """Static checks of every policy in the files: (no errors, every issue)."""
    key = digest(files)
    if key in _CHECKED:
        _CHECKED.move_to_end(key)
        ok, found = _CHECKED[key]
        return ok, list(found)
    ok, issues = _check_files(files)
    _CHECKED[key] = (ok, tuple(issues))
    if len(_CHECKED) > _CHECKED_MAX:
        _CHECKED.popitem(last=False)
    return ok, issues


def _check_files(files: dict[str, str]) -> tuple[bool, list[IssueOut]]:
    validate_files(files)
    issues: list[IssueOut] = []
    ok = True
    with tempfile.TemporaryDirectory(prefix="pitboss-check-") as tmp:
        root = materialize(files, Path(tmp) / "pack")
        for name in sorted(n for n in files if n.endswith(".pol")):
            path = root / name
            try:
                result = dsl.check_source(files[name], name, path.parent)
                found = list(result.issues)
            except PolicySyntaxError as exc:
                found = list(exc.issues)
            ok = ok and not any(i.is_error for i in found)
            issues.extend(_issue(i) for i in found)
    return ok, issues


class TestResult(msgspec.Struct, kw_only=True):
    policy: str
    file: str
    name: str
    line: int
    passed: bool
    failures: list[str]


def run_tests(folder: Path) -> list[TestResult]:
    """Run the inline tests of every policy under `folder` (slow: compiles kernels)."""
    from dsl.testing import run_tests as run_policy_tests

    results = []
    for path in sorted(folder.rglob("*.pol")):
        checked = dsl.load_policy(path)
        for t in run_policy_tests(checked):
            results.append(
                TestResult(
                    policy=t.policy,
                    file=str(path.relative_to(folder)),
                    name=t.name,
                    line=t.line,
                    passed=t.passed,
                    failures=list(t.failures),
                )
            )
    return results


def read_pack_dir(folder: Path) -> dict[str, str]:
    """The files of a pack folder: its policies and every other text file beside them."""
    files = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not any(p.startswith(".") for p in path.relative_to(folder).parts):
            files[str(path.relative_to(folder).as_posix())] = path.read_text(encoding="utf-8")
    return files


def compile_folder(folder: Path) -> CompiledPack:
    """Compile a pack and make numba build its kernel now (it does so at the first call),
    so the first real event is not the one that waits for the compiler."""
    pack = load_pack([folder])
    StreamEngine(pack).process(Login(event_id="warm-up", player_id="warm-up", ts=0, market="MGA"))
    return pack

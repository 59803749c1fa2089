"""The sandbox's report validator: is this file a report as Pitboss writes it?

`check_report` takes the bytes of a CSV, XML or PDF report or of a run's manifest, guesses
what it is and for which market when not told, and lists every problem with where it is:

- CSV: the layout `regapi.reports.render_csv` documents (`sandbox.report_csv_check`).
- XML: the market's shipped schema (`regapi.reports.render_xml.validate_xml`, hardened:
  no DTD, no entities, nothing fetched), and a root that is the market's.
- PDF: it opens, has pages, and its first page holds the market's report title, the
  licence and the period; every page's footer numbers it.
- Manifest: the fields and file entries `regapi.reports.signing.build_manifest` writes,
  names that fit the market, period and revision, canonical JSON.

Input is hostile: the caller bounds its size, problems are capped (`MAX_PROBLEMS`, then one
saying how many more), and nothing here raises on bad content.
"""

from __future__ import annotations

import io
import json
import re
from typing import Any, Final

import msgspec
from lxml import etree
from pypdf import PdfReader

from regapi import periods
from regapi.reports import signing
from regapi.reports.render_xml import MAX_PROBLEMS as XML_MAX_PROBLEMS
from regapi.reports.render_xml import validate_xml
from regapi.reports.templates import FORMATS, TEMPLATES, file_stem
from sandbox.report_csv_check import check_csv
from sandbox.report_problems import MAX_PROBLEMS, Problem, Problems, is_utc_time, quoted

__all__ = ["FORMAT_NAMES", "MAX_PROBLEMS", "Problem", "ReportCheck", "check_report", "guess"]

FORMAT_NAMES: Final = (*FORMATS, "manifest")
_BOM: Final = b"\xef\xbb\xbf"
# Pages whose footers are read: a report has a few dozen; a hostile file may claim more.
_MAX_PAGES: Final = 200
_PERIOD: Final = re.compile(r"\b(daily|weekly|monthly)/([0-9]{4}-[0-9W-]+)")
_KEY_ID: Final = re.compile(r"[A-Za-z0-9_-]{43}")
_MANIFEST_FIELDS: Final = (
    "version",
    "manifest",
    "market",
    "period",
    "revision",
    "generated_at",
    "algorithm",
    "key_id",
    "files",
)
_ENTRY_FIELDS: Final = ("name", "size", "sha256", "signature")
# As report_files names them (migration 0007), and as signing.py checks them.
_FILE_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
_SHA256: Final = re.compile(r"[0-9a-f]{64}")


class ReportCheck(msgspec.Struct, frozen=True):
    """The validator's answer: valid when no problem was found."""

    valid: bool
    format: str  # csv, xml, pdf, manifest; "unknown" when it cannot be told
    market: str | None  # the market it was checked as; None when it cannot be told
    problems: list[Problem]


def check_report(content: bytes, *, format: str | None, market: str | None) -> ReportCheck:
    """Everything wrong with `content` as a report file of `format` for `market`, either
    guessed from the content when None. A given market that disagrees with the file is a
    problem, and the file is then checked as its own market's. `ValueError` for a
    `format` or `market` that is not one of the known ones (the caller checks those)."""
    if format is not None and format not in FORMAT_NAMES:
        raise ValueError(f"format: one of {', '.join(FORMAT_NAMES)}")
    if market is not None and market not in TEMPLATES:
        raise ValueError(f"market: one of {', '.join(TEMPLATES)}")
    problems = Problems()
    guessed = guess(content)
    fmt = format if format is not None else guessed
    if fmt is None:
        problems.add(
            "file",
            "cannot tell the format: not XML (no declaration or root element), not a PDF "
            "(no %PDF- header), not a manifest (no JSON object), not a CSV report (the "
            "header starts section,item,…); say which with format=",
        )
        return _result("unknown", market, problems)
    if guessed is not None and guessed != fmt:
        problems.add("file", f"the content looks like {_NAMES[guessed]}, not {_NAMES[fmt]}")
        return _result(fmt, market, problems)
    if fmt == "csv":
        checked = check_csv(content, market, problems)
    elif fmt == "xml":
        checked = _check_xml(content, market, problems)
    elif fmt == "pdf":
        checked = _check_pdf(content, market, problems)
    else:
        checked = _check_manifest(content, market, problems)
    return _result(fmt, checked, problems)


_NAMES: Final = {"csv": "CSV", "xml": "XML", "pdf": "a PDF", "manifest": "a JSON manifest"}


def _result(fmt: str, market: str | None, problems: Problems) -> ReportCheck:
    return ReportCheck(
        valid=not len(problems), format=fmt, market=market, problems=problems.listed()
    )


def guess(content: bytes) -> str | None:
    """The format `content` looks like, from its first bytes; None if none."""
    head = content[:1024]
    if b"%PDF-" in head:
        return "pdf"
    text = head.removeprefix(_BOM).lstrip()
    if text.startswith(b"<"):
        return "xml"
    if text.startswith(b"{"):
        return "manifest"
    first = text.split(b"\n", 1)[0].replace(b'"', b"")
    if first.startswith(b"section,"):
        return "csv"
    return None


# --- XML ----------------------------------------------------------------------------


def _root(content: bytes) -> tuple[str | None, str, int] | None:
    """The root element's namespace, local name and line, read with the validator's
    hardened settings and no further than the root's start tag; None if there is none."""
    try:
        for _, el in etree.iterparse(
            io.BytesIO(content),
            events=("start",),
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            huge_tree=False,
        ):
            q = etree.QName(el)
            return q.namespace, q.localname, el.sourceline or 1
    except (etree.XMLSyntaxError, ValueError):
        return None
    return None


def _check_xml(content: bytes, market: str | None, problems: Problems) -> str | None:
    root = _root(content)
    checked = market
    owner = None
    if root is not None:
        namespace, name, line = root
        owner = next((t for t in TEMPLATES.values() if t.namespace == namespace), None)
        if owner is None:
            roots = ", ".join(f"{t.root} in {t.namespace}" for t in TEMPLATES.values())
            shown = f"{{{namespace}}}{name}" if namespace else name
            problems.add(
                f"line {line}",
                f"the root element {quoted(shown, 120)} is not a Pitboss return (one of {roots})",
                line=line,
            )
        else:
            code = owner.market.code
            if name != owner.root:
                problems.add(
                    f"line {line}",
                    f"the root element is {quoted(name)} in {code}'s namespace "
                    f"{owner.namespace}; {code}'s return is {owner.root}",
                    line=line,
                )
            if market is not None and market != code:
                problems.add(
                    f"line {line}",
                    f"the file is {code}'s return (namespace {owner.namespace}), but "
                    f"market={market} was given",
                    line=line,
                )
            checked = code
    # Without a market, malformed XML is still worth reporting: the parse fails before
    # any market's schema matters.
    found = validate_xml(checked or "MGA", content)
    if root is not None and owner is None:
        # The schema's complaint about the root repeats what was said above.
        found = [p for p in found if "No matching global declaration" not in p.message]
    for p in found[:XML_MAX_PROBLEMS]:
        where = f"line {p.line}" + (f", column {p.column}" if p.column else "")
        problems.add(where, p.message, line=p.line, column=p.column or None)
    if len(found) > XML_MAX_PROBLEMS:
        more = found[XML_MAX_PROBLEMS].message.split(" ", 1)[0]
        problems.count_more(int(more) if more.isdigit() else 1)
    return checked


# --- PDF ----------------------------------------------------------------------------


def _page_text(reader: PdfReader, index: int) -> str:
    return " ".join(reader.pages[index].extract_text().split())


def _check_pdf(content: bytes, market: str | None, problems: Problems) -> str | None:
    if not content.startswith(b"%PDF-"):
        problems.add("file", "not a PDF: it does not start with %PDF-")
        return market
    # pypdf bounds what it inflates and how deep it follows (pypdf.Configuration); the
    # rest of what a hostile file can make it do is an exception, reported as such.
    try:
        reader = PdfReader(io.BytesIO(content))
        pages = len(reader.pages)
        first = _page_text(reader, 0) if pages else ""
    except Exception as exc:  # any failure to read is the answer, whatever its kind
        problems.add("file", f"the PDF cannot be read: {_short(exc)}")
        return market
    if not pages:
        problems.add("file", "the PDF has no pages")
        return market
    owner = next((t for t in TEMPLATES.values() if t.title in first), None)
    checked = market
    if owner is None:
        titles = "; ".join(f"{t.title!r} ({code})" for code, t in TEMPLATES.items())
        problems.add("page 1", f"no report title on the first page (one of {titles})")
    else:
        code = owner.market.code
        if market is not None and market != code:
            problems.add(
                "page 1", f"the title is {code}'s ({owner.title!r}), but market={market} was given"
            )
        checked = code
    t = TEMPLATES.get(checked) if checked else None
    if t is not None:
        label = re.search(re.escape(t.licence_label) + r"\s*(\S+)", first)
        if label is None:
            problems.add("page 1", f"no {t.licence_label!r} on the first page")
        elif not t.licence.fullmatch(label[1]):
            problems.add(
                "page 1", f"{t.licence_label} {quoted(label[1])} is not like {t.licence_example}"
            )
    found = _PERIOD.search(first)
    if found is None:
        problems.add(
            "page 1", "no period on the first page (like monthly/2026-01, daily/2026-01-15)"
        )
    else:
        try:
            periods.parse(found[0])
        except periods.PeriodError as exc:
            problems.add("page 1", f"the period {quoted(found[0])}: {exc}")
    _check_footers(reader, pages, first, problems)
    return checked


def _check_footers(reader: PdfReader, pages: int, first: str, problems: Problems) -> None:
    """Each page says "Page n of N": a page lost or reordered shows."""
    for n in range(1, min(pages, _MAX_PAGES) + 1):
        try:
            text = first if n == 1 else _page_text(reader, n - 1)
        except Exception as exc:
            problems.add(f"page {n}", f"its text cannot be read: {_short(exc)}")
            continue
        if f"Page {n} of {pages}" not in text:
            problems.add(f"page {n}", f"the footer does not say 'Page {n} of {pages}'")


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]


# --- manifests --------------------------------------------------------------------------


def _check_manifest(content: bytes, market: str | None, problems: Problems) -> str | None:
    duplicates: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: set[str] = set()
        for key, _ in items:
            if key in seen:
                duplicates.append(key)
            seen.add(key)
        return dict(items)

    try:
        doc = json.loads(content.decode("utf-8"), object_pairs_hook=pairs)
    except UnicodeDecodeError as exc:
        problems.add("file", f"not UTF-8 at byte {exc.start}: a manifest is ASCII JSON")
        return market
    except json.JSONDecodeError as exc:
        problems.add(
            f"line {exc.lineno}, column {exc.colno}",
            f"not JSON: {exc.msg}",
            line=exc.lineno,
            column=exc.colno,
        )
        return market
    except RecursionError:
        problems.add("file", "not a manifest: nested too deeply")
        return market
    for key in duplicates[:10]:
        problems.add("file", f"the key {quoted(key)} appears twice in one object")
    if not isinstance(doc, dict):
        problems.add("file", f"not a manifest: a JSON {type(doc).__name__}, not an object")
        return market
    checked, stem = _manifest_fields(doc, market, problems)
    entries = doc.get("files")
    if isinstance(entries, list):
        _manifest_entries(doc, entries, stem, problems)
    if not len(problems):
        if content != _canonical(doc):
            problems.add(
                "file",
                "not canonical JSON (keys sorted, no white space, ASCII) as Pitboss writes "
                "it; its signature is over these very bytes, so check it was not reformatted",
            )
        parsed = signing.parse_manifest(content)
        if isinstance(parsed, str):  # what verify_manifest would refuse, said our way above
            problems.add("file", parsed)
    return checked


def _canonical(doc: object) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _manifest_fields(
    doc: dict[str, Any], market: str | None, problems: Problems
) -> tuple[str | None, str | None]:
    """Check the manifest's own fields; the market it is checked as, and the stem of its
    run's file names when market, period and revision are all readable."""
    for key in _MANIFEST_FIELDS:
        if key not in doc:
            problems.add(key, f"{key} is missing")
    for key in doc:
        if key not in _MANIFEST_FIELDS:
            problems.add(str(key), f"unknown field {quoted(str(key))}")
    checks: dict[str, tuple[bool, str]] = {
        "version": (
            doc.get("version") == signing.MANIFEST_VERSION and type(doc["version"]) is int,
            f"version {signing.MANIFEST_VERSION}",
        ),
        "algorithm": (doc.get("algorithm") == signing.ALGORITHM, signing.ALGORITHM),
        "key_id": (
            isinstance(doc.get("key_id"), str) and bool(_KEY_ID.fullmatch(doc["key_id"])),
            "the signing key's RFC 7638 thumbprint (43 base64url characters)",
        ),
        "manifest": (
            isinstance(doc.get("manifest"), str)
            and doc["manifest"].endswith(signing.MANIFEST_SUFFIX)
            and bool(_FILE_NAME.fullmatch(doc["manifest"])),
            f"the manifest's own file name (…{signing.MANIFEST_SUFFIX})",
        ),
        "revision": (
            type(doc.get("revision")) is int and doc["revision"] >= 1,
            "a whole number from 1",
        ),
        "generated_at": (
            isinstance(doc.get("generated_at"), str) and is_utc_time(doc["generated_at"]),
            "an RFC 3339 time in UTC (like 2026-02-01T03:15:07Z)",
        ),
        "files": (
            isinstance(doc.get("files"), list) and bool(doc["files"]),
            "a list of at least one file entry",
        ),
    }
    for key, (ok, expected) in checks.items():
        if key in doc and not ok:
            problems.add(key, f"{key} is {_shown(doc[key])}; expected {expected}")
    checked = market
    found = doc.get("market")
    if "market" in doc:
        if found in TEMPLATES:
            if market is not None and market != found:
                problems.add("market", f"the manifest is {found}'s, but market={market} was given")
            checked = found
        else:
            problems.add("market", f"market is {_shown(found)}; one of {', '.join(TEMPLATES)}")
    period = doc.get("period")
    stem = None
    if "period" in doc:
        try:
            if not isinstance(period, str):
                raise periods.PeriodError("a period is a string like monthly/2026-01")
            parsed = periods.parse(period)
        except periods.PeriodError as exc:
            problems.add("period", str(exc))
        else:
            revision = doc.get("revision")
            name = doc.get("manifest")
            if checked is not None and type(revision) is int and revision >= 1:
                stem = file_stem(checked, parsed.kind, parsed.label, revision)
                want = stem + signing.MANIFEST_SUFFIX
                if isinstance(name, str) and name != want:
                    problems.add(
                        "manifest", f"manifest is {quoted(name)}; for this run it is {want}"
                    )
    return checked, stem


def _manifest_entries(
    doc: dict[str, Any], entries: list[Any], stem: str | None, problems: Problems
) -> None:
    seen: dict[str, int] = {}
    for i, e in enumerate(entries):
        where = f"files[{i}]"
        if not isinstance(e, dict):
            fields = ", ".join(_ENTRY_FIELDS)
            problems.add(where, f"{where} is {_shown(e)}; expected an object with {fields}")
            continue
        for key in _ENTRY_FIELDS:
            if key not in e:
                problems.add(f"{where}.{key}", f"{where}.{key} is missing")
        for key in e:
            if key not in _ENTRY_FIELDS:
                problems.add(f"{where}.{key}", f"unknown field {quoted(str(key))}")
        name = e.get("name")
        if "name" in e:
            if not isinstance(name, str) or not _FILE_NAME.fullmatch(name):
                problems.add(f"{where}.name", f"name is {_shown(name)}; expected a file name")
                name = None
            elif name in seen:
                problems.add(f"{where}.name", f"{name} is listed twice (files[{seen[name]}])")
            elif name.endswith(signing.SIGNATURE_SUFFIX) or name == doc.get("manifest"):
                problems.add(
                    f"{where}.name",
                    f"{name}: signatures and the manifest itself are not listed as files",
                )
            elif stem is not None and name not in {f"{stem}.{f}" for f in FORMATS}:
                problems.add(
                    f"{where}.name",
                    f"{name} is not one of this run's report files "
                    f"({', '.join(f'{stem}.{f}' for f in FORMATS)})",
                )
            if isinstance(name, str):
                seen.setdefault(name, i)
        size = e.get("size")
        if "size" in e and (type(size) is not int or size < 0):
            problems.add(f"{where}.size", f"size is {_shown(size)}; expected a byte count")
        digest = e.get("sha256")
        if "sha256" in e and (not isinstance(digest, str) or not _SHA256.fullmatch(digest)):
            problems.add(
                f"{where}.sha256", f"sha256 is {_shown(digest)}; expected 64 lower-case hex digits"
            )
        signature = e.get("signature")
        if "signature" in e and isinstance(name, str):
            want = signing.signature_name(name)
            if signature != want:
                problems.add(
                    f"{where}.signature", f"signature is {_shown(signature)}; expected {want}"
                )


def _shown(value: object) -> str:
    """A JSON value for a message, short whatever it holds."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    return quoted(value) if isinstance(value, str) else json.dumps(value)

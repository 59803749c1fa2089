"""The CSV report's layout, checked row by row against what `regapi.reports.render_csv`
documents: the header, UTF-8 without a byte-order mark, CRLF or LF line ends, metadata
rows first and complete, known sections in their order, the columns each row fills,
integers where numbers go, ISO 4217 currency codes, text a spreadsheet would run as a
formula, and the totals against the rows they sum where the layout allows it.

Rows are numbered as a spreadsheet shows them (the header is row 1).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Final, NamedTuple

from dsl.vocabulary import MARKETS, currencies
from regapi import periods
from regapi.reports.render_csv import COLUMNS
from regapi.reports.templates import TEMPLATES, Template
from sandbox.report_csv_layout import (
    GGR,
    ITEMS,
    ONCE,
    OPTIONAL_METADATA,
    REQUIRED_METADATA,
    SECTIONS,
)
from sandbox.report_problems import Problems, is_utc_time, position, quoted

_BOM: Final = b"\xef\xbb\xbf"
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")
_NUMBER: Final = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_INTEGER: Final = re.compile(r"-?[0-9]{1,18}")
_CURRENCY: Final = re.compile(r"[A-Z]{3}")
_LINE_END: Final = re.compile(rb'"[^"]*"|\r\n|\r|\n')
_SECTION, _ITEM, _LABEL, _DETAIL, _CUR, _COUNT, _AMOUNT, _BASE, _VALUE = range(9)
_TEXT_COLUMNS: Final = (_SECTION, _ITEM, _LABEL, _DETAIL, _CUR, _VALUE)


def _where(row: int, column: int | None = None) -> str:
    return f"row {row}" if column is None else f"row {row}, column {COLUMNS[column]}"


def _plain(cell: str) -> str:
    """A text cell as it was before the renderer guarded it against formulas."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(_FORMULA_START) else cell


def _rows_text(rows: list[int]) -> str:
    if not rows:
        return "no rows"
    shown = ", ".join(map(str, rows[:5]))
    return f"rows {shown}" + (f", … ({len(rows)} rows)" if len(rows) > 5 else "")


class _Meta(NamedTuple):
    row: int
    line: int
    value: str


@dataclass
class _Figures:
    """What the totals are checked against: (row, amount) of each row that counts."""

    totals: dict[str, tuple[int, int | None]] = field(default_factory=dict)
    payments: dict[str, list[tuple[int, str, int | None]]] = field(default_factory=dict)
    gaming_base: list[tuple[int, int | None]] = field(default_factory=list)
    gaming_money: list[tuple[int, str, str, int | None]] = field(default_factory=list)
    groups: dict[tuple[str, str], dict[str, tuple[int, int | None]]] = field(default_factory=dict)
    daily: list[tuple[int, str, int | None]] = field(default_factory=list)


class CsvCheck:
    """One pass over a CSV report; `run` returns the market it was checked as."""

    def __init__(self, problems: Problems, market: str | None) -> None:
        self.problems = problems
        self.given = market
        self.market: str | None = None
        self.base: str | None = None
        self.ggr: str | None = None
        self.period: periods.Period | None = None
        self.meta: dict[str, _Meta] = {}
        self.settled = False
        self.section_at = 0  # index in SECTIONS of the latest section seen
        self.previous = ""  # the section of the row before
        self.once: dict[tuple[str, str], int] = {}
        self.figures = _Figures()
        self.line = 1
        # The line each row ends on, where that is not the row's number (a quoted field
        # holding a line end); rare, so only those are kept.
        self.lines: dict[int, int] = {}

    def add(self, row: int, column: int | None, message: str) -> None:
        self.problems.add(
            _where(row, column),
            message,
            line=self.lines.get(row, row),
            column=None if column is None else column + 1,
        )

    # --- the file -----------------------------------------------------------------

    def run(self, content: bytes) -> str | None:
        if content.startswith(_BOM):
            self.problems.add(
                "line 1, column 1",
                "the file starts with a byte-order mark (EF BB BF); write UTF-8 without one",
                line=1,
                column=1,
            )
            content = content[len(_BOM) :]
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError as exc:
            line, column = position(content, exc.start)
            self.problems.add(
                f"line {line}, column {column}",
                f"not UTF-8: byte 0x{content[exc.start]:02X} at offset {exc.start} "
                f"({exc.reason}); the report is UTF-8",
                line=line,
                column=column,
            )
            text = content.decode("utf-8", errors="replace")
        if not text:
            self.problems.add("file", "the file is empty")
            return self.given
        self._line_ends(content)
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        row = 0
        try:
            for fields in reader:
                row += 1
                self.line = reader.line_num
                if self.line != row:
                    self.lines[row] = self.line
                self._row(row, fields)
        except csv.Error as exc:
            self.line = reader.line_num
            self.problems.add(
                f"line {reader.line_num}",
                f"not CSV past this point: {exc}; the rest of the file was not checked",
                line=reader.line_num,
            )
        self._finish(row)
        return self.market

    def _line_ends(self, content: bytes) -> None:
        """CRLF or LF, one kind throughout, and one after the last row. Line ends inside
        quoted fields are text, not line ends."""
        first: bytes | None = None
        for m in _LINE_END.finditer(content):
            end = m.group()
            if end.startswith(b'"'):
                continue
            if end == b"\r":
                line, column = position(content, m.start())
                self.problems.add(
                    f"line {line}, column {column}",
                    "a line ends with a bare CR; end lines with CRLF or LF",
                    line=line,
                    column=column,
                )
                return
            if first is None:
                first = end
            elif end != first:
                line, _ = position(content, m.start())
                self.problems.add(
                    f"line {line}",
                    f"line {line} ends with {_name(end)}, the lines before it with "
                    f"{_name(first)}; use one kind of line end",
                    line=line,
                )
                return
        if not content.endswith(b"\n"):
            line = content.count(b"\n") + 1
            self.problems.add(
                f"line {line}",
                "the last line has no line end: the file may be truncated",
                line=line,
            )

    # --- rows ---------------------------------------------------------------------

    def _row(self, row: int, fields: list[str]) -> None:
        if row == 1:
            self._header(fields)
            return
        if not fields:
            self.add(row, None, f"row {row} is empty")
            return
        if len(fields) != len(COLUMNS):
            self.add(
                row,
                None,
                f"row {row} has {len(fields)} fields; every row has {len(COLUMNS)} "
                f"({','.join(COLUMNS)})",
            )
            return
        for column in _TEXT_COLUMNS:
            cell = fields[column]
            if cell.startswith(_FORMULA_START) and not _NUMBER.fullmatch(cell):
                self.add(
                    row,
                    column,
                    f"{quoted(cell)} would run as a formula in a spreadsheet; "
                    "write it with a leading '",
                )
        section, item = fields[_SECTION], fields[_ITEM]
        if section not in SECTIONS:
            self.add(
                row,
                _SECTION,
                f"unknown section {quoted(section)} (known: {', '.join(SECTIONS)})",
            )
            return
        if section == "metadata":
            self._metadata(row, fields)
            return
        self._settle()
        at = SECTIONS.index(section)
        # Said once where an out-of-order run of rows starts, not on each of its rows.
        if at < self.section_at and section != self.previous:
            self.add(
                row,
                _SECTION,
                f"section {section} comes after {SECTIONS[self.section_at]}; "
                f"sections are in the order {', '.join(SECTIONS)}",
            )
        self.section_at = max(self.section_at, at)
        self.previous = section
        self._figure(row, section, item, fields)

    def _header(self, fields: list[str]) -> None:
        if tuple(fields) == COLUMNS:
            return
        given = ",".join(fields)
        for i, (got, want) in enumerate(zip(fields, COLUMNS, strict=False)):
            if got != want:
                self.add(
                    1,
                    None,
                    f"the header is {quoted(given, 120)}; expected {','.join(COLUMNS)} "
                    f"(column {i + 1} is {quoted(got)}, not {want})",
                )
                return
        self.add(
            1,
            None,
            f"the header is {quoted(given, 120)}; expected {','.join(COLUMNS)} "
            f"({len(fields)} columns, not {len(COLUMNS)})",
        )

    def _metadata(self, row: int, fields: list[str]) -> None:
        key = fields[_ITEM]
        if self.settled:
            self.add(row, _SECTION, "metadata rows come first, before every figure")
        if key not in REQUIRED_METADATA and key not in OPTIONAL_METADATA:
            known = ", ".join((*REQUIRED_METADATA, *OPTIONAL_METADATA))
            self.add(row, _ITEM, f"unknown metadata field {quoted(key)} (known: {known})")
            return
        if key in self.meta:
            self.add(row, _ITEM, f"metadata field {key} again (first in row {self.meta[key].row})")
            return
        for column in (_LABEL, _DETAIL, _CUR, _COUNT, _AMOUNT, _BASE):
            if fields[column]:
                self.add(row, column, "a metadata row holds its value in the value column only")
        self.meta[key] = _Meta(row, self.line, _plain(fields[_VALUE]))

    def _figure(self, row: int, section: str, item: str, fields: list[str]) -> None:
        key = item
        if item in ("ggr", "ggy"):
            key = GGR
            if self.ggr is not None and item != self.ggr:
                self.add(row, _ITEM, f"{self.market} reports write {self.ggr}, not {item}")
        shape = ITEMS[section].get(key)
        if shape is None:
            known = ", ".join(self._item_name(k) for k in ITEMS[section])
            self.add(row, _ITEM, f"unknown {section} item {quoted(item)} (known: {known})")
            return
        if (section, key) in ONCE:
            if (section, key) in self.once:
                first = self.once[(section, key)]
                self.add(row, _ITEM, f"a second {section} {item} row (the first is row {first})")
                return
            self.once[(section, key)] = row
        label, detail = _plain(fields[_LABEL]), _plain(fields[_DETAIL])
        self._fill(row, _LABEL, fields, shape.label, section, item)
        self._fill(row, _DETAIL, fields, shape.detail, section, item)
        count = self._number(row, _COUNT, fields, shape.count, section, item, signed=False)
        self._fill(row, _CUR, fields, shape.money, section, item)
        amount = self._number(row, _AMOUNT, fields, shape.money, section, item, shape.signed)
        base = self._number(row, _BASE, fields, shape.base, section, item, shape.signed)
        self._fill(row, _VALUE, fields, shape.value, section, item)
        currency = fields[_CUR]
        if currency:
            self._currency(row, currency)
        if shape.in_base and self.base is not None and currency and currency != self.base:
            self.add(
                row,
                _CUR,
                f"{section} rows are in the base currency {self.base}, not {quoted(currency)}",
            )
        if base is not None and amount is not None and currency == self.base and amount != base:
            self.add(
                row,
                _BASE,
                f"amount_base_minor {base} differs from amount_minor {amount} though the "
                f"currency is the base currency {self.base}",
            )
        self._detail_checks(row, section, key, fields, count)
        f = self.figures
        if section == "totals":
            f.totals[key] = (row, amount)
        elif section == "payments":
            f.payments.setdefault(item, []).append((row, detail, base))
        elif section == "gaming" and key != "bets":
            if key == GGR:
                f.gaming_base.append((row, base))
            else:
                f.gaming_money.append((row, key, currency, amount))
            f.groups.setdefault((label, currency), {})[key] = (row, amount)
        elif section == "daily":
            f.daily.append((row, label, amount))

    def _detail_checks(
        self, row: int, section: str, key: str, fields: list[str], count: int | None
    ) -> None:
        label, detail = _plain(fields[_LABEL]), fields[_DETAIL]
        if section == "fairness" and key == "anomaly_threshold" and fields[_VALUE]:
            value = fields[_VALUE]
            try:
                ok = 0 < float(value) < 1 and _NUMBER.fullmatch(value) is not None
            except ValueError:
                ok = False
            if not ok:
                self.add(row, _VALUE, f"{quoted(value)} is not a p-value threshold (like 0.001)")
        elif section == "kyc_aml" and key == "verifications" and not label.isdigit():
            self.add(row, _LABEL, f"{quoted(label)} is not a KYC level (a whole number)")
        elif section == "incidents" and detail and not detail.isdigit():
            self.add(row, _DETAIL, f"{quoted(detail)} is not an incident priority (1, 2, 3…)")
        elif section == "daily" and label:
            try:
                date.fromisoformat(label)
                if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", label):
                    raise ValueError
            except ValueError:
                self.add(row, _LABEL, f"{quoted(label)} is not a day (YYYY-MM-DD)")

    def _fill(
        self, row: int, column: int, fields: list[str], need: str, section: str, item: str
    ) -> None:
        cell = fields[column]
        if need == "r" and not cell:
            self.add(row, column, f"{section} {item} rows need a {COLUMNS[column]}")
        elif not need and cell:
            self.add(row, column, f"{section} {item} rows leave {COLUMNS[column]} empty")

    def _number(
        self,
        row: int,
        column: int,
        fields: list[str],
        need: str,
        section: str,
        item: str,
        signed: bool,
    ) -> int | None:
        self._fill(row, column, fields, need, section, item)
        cell = fields[column]
        if not cell or not need:
            return None
        if not _INTEGER.fullmatch(cell):
            hint = ""
            if column in (_AMOUNT, _BASE) and _NUMBER.fullmatch(cell):
                hint = " (money is in minor units: 1250 for 12.50)"
            self.add(row, column, f"{quoted(cell)} is not an integer{hint}")
            return None
        value = int(cell)
        if value < 0 and not signed:
            self.add(row, column, f"{value} is negative; {section} {item} cannot be")
        return value

    def _currency(self, row: int, currency: str) -> None:
        if not _CURRENCY.fullmatch(currency):
            self.add(row, _CUR, f"{quoted(currency)} is not an ISO 4217 code (three capitals)")
        elif currency not in currencies():
            self.add(row, _CUR, f"{quoted(currency)} is not an ISO 4217 currency")

    # --- metadata -------------------------------------------------------------------

    def _settle(self) -> None:
        """Check the metadata (once, when the first figure comes or at the end) and take
        the market, base currency and GGR word the figures are checked with."""
        if self.settled:
            return
        self.settled = True
        meta = self.meta
        for key in REQUIRED_METADATA:
            if key not in meta:
                self.problems.add("metadata", f"no metadata row for {key}")
        market = meta.get("market")
        if market is not None:
            if market.value in TEMPLATES:
                self.market = market.value
                if self.given is not None and self.given != market.value:
                    self._meta(
                        "market",
                        f"the file is {market.value}'s report, but market={self.given} was given",
                    )
            else:
                self._meta(
                    "market",
                    f"{quoted(market.value)} is not a market with a report template "
                    f"({', '.join(TEMPLATES)})",
                )
        self.market = self.market or self.given
        t = TEMPLATES.get(self.market) if self.market else None
        m = MARKETS.get(self.market) if self.market else None
        if t is not None:
            self._check_licence(t)
        self._check_period()
        self._check_value("timezone", m.timezone if m else None, "reports are in")
        self._check_value("base_currency", m.currency if m else None, "reports' base currency is")
        base = meta.get("base_currency")
        self.base = (
            base.value if base and _CURRENCY.fullmatch(base.value) else (m.currency if m else None)
        )
        self.ggr = t.ggr_label.lower() if t else None
        at = meta.get("generated_at")
        if at is not None and not is_utc_time(at.value):
            self._meta(
                "generated_at",
                f"{quoted(at.value)} is not an RFC 3339 time in UTC (like 2026-02-01T03:15:07Z)",
            )
        for key, low in (("revision", 1), ("events", 0)):
            found = meta.get(key)
            if found is not None and (
                not _INTEGER.fullmatch(found.value) or int(found.value) < low
            ):
                what = "a whole number from 1" if low else "a whole number"
                self._meta(key, f"{key} {quoted(found.value)} is not {what}")

    def _meta(self, key: str, message: str) -> None:
        found = self.meta[key]
        self.problems.add(_where(found.row, _VALUE), message, line=found.line, column=_VALUE + 1)

    def _check_licence(self, t: Template) -> None:
        found = self.meta.get("licence")
        if found is not None and not t.licence.fullmatch(found.value):
            self._meta(
                "licence",
                f"{quoted(found.value)} is not in the form of {t.market.code}'s "
                f"{t.licence_label.lower()}s (like {t.licence_example})",
            )

    def _item_name(self, key: str) -> str:
        return (self.ggr or "ggr") if key == GGR else key

    def _check_period(self) -> None:
        found = self.meta.get("period")
        if found is None:
            return
        try:
            self.period = p = periods.parse(found.value)
        except periods.PeriodError as exc:
            self._meta("period", str(exc))
            return
        for key, want in (
            ("period_kind", p.kind),
            ("start", p.start.isoformat()),
            ("end", p.end.isoformat()),
        ):
            got = self.meta.get(key)
            if got is not None and got.value != want:
                self._meta(key, f"{key} is {quoted(got.value)}; period {p} has {key} {want}")

    def _check_value(self, key: str, want: str | None, said: str) -> None:
        got = self.meta.get(key)
        if got is not None and want is not None and got.value != want:
            self._meta(key, f"{key} is {quoted(got.value)}; {self.market} {said} {want}")

    # --- the end: what must be there, and the sums ---------------------------------------

    def _finish(self, rows: int) -> None:
        self._settle()
        if rows < 2:
            self.problems.add("file", "the file holds no rows after the header")
            return
        for section, key in sorted(ONCE - self.once.keys(), key=lambda k: SECTIONS.index(k[0])):
            self.problems.add(f"section {section}", f"no {section} row for {self._item_name(key)}")
        self._days()
        self._sums()

    def _days(self) -> None:
        """One daily row per day of the period, in order."""
        p = self.period
        if p is None:
            return
        want = [(p.start + timedelta(days=i)).isoformat() for i in range((p.end - p.start).days)]
        expected = set(want)
        seen: dict[str, int] = {}
        latest = ""
        for row, label, _ in self.figures.daily:
            if label < latest:
                self.add(
                    row, _LABEL, f"day {quoted(label)} comes after {latest}; days are in order"
                )
            latest = max(latest, label)
            if label in seen:
                self.add(row, _LABEL, f"day {label} again (first in row {seen[label]})")
            elif label not in expected:
                self.add(row, _LABEL, f"day {quoted(label)} is not in {p}")
            seen.setdefault(label, row)
        missing = [day for day in want if day not in seen]
        for day in missing[:10]:
            self.problems.add("section daily", f"no daily row for {day} (one per day of {p})")
        if len(missing) > 10:
            self.problems.add("section daily", f"{len(missing) - 10} more days have no row")

    def _sums(self) -> None:
        f = self.figures
        ggr = self.ggr or "ggr"
        for key, status in (("deposits", "approved"), ("withdrawals", "approved")):
            rows = [(r, b) for r, s, b in f.payments.get(key[:-1], []) if s == status]
            self._total(key, rows, f"the approved {key[:-1]} rows")
        chargebacks = [(r, b) for r, _, b in f.payments.get("chargeback", [])]
        self._total("chargebacks", chargebacks, "the chargeback rows")
        self._total(GGR, f.gaming_base, f"the gaming {ggr} rows' amount_base_minor")
        self._total(GGR, [(r, a) for r, _, a in f.daily], f"the daily {ggr} rows")
        # Stakes and wins in another currency have no base amount in the file: their sum
        # can be checked only when every gaming row is in the base currency.
        if self.base is not None and all(c == self.base for _, _, c, _ in f.gaming_money):
            for key in ("stakes", "wins"):
                rows = [(r, a) for r, k, _, a in f.gaming_money if k == key]
                self._total(key, rows, f"the gaming {key} rows")
        total = f.totals.get(GGR)
        parts = [f.totals.get(k) for k in ("stakes", "wins")]
        known = _amounts(total, *parts)
        if total is not None and known is not None and known[1] - known[2] != known[0]:
            self.add(
                total[0],
                _AMOUNT,
                f"totals {ggr} is {known[0]}, not stakes - wins ({known[1]} - {known[2]})",
            )
        for (label, currency), group in f.groups.items():
            stakes, wins, g = (group.get(k) for k in ("stakes", "wins", GGR))
            known = _amounts(g, stakes, wins)
            if g and stakes and wins and known is not None and known[1] - known[2] != known[0]:
                what = f"{label or 'no game kind'} in {currency}"
                self.add(
                    g[0],
                    _AMOUNT,
                    f"gaming {ggr} of {what} is {known[0]}, not stakes - wins "
                    f"({known[1]} - {known[2]}, rows {stakes[0]} and {wins[0]})",
                )

    def _total(self, key: str, rows: list[tuple[int, int | None]], what: str) -> None:
        found = self.figures.totals.get(key)
        if found is None or found[1] is None or any(a is None for _, a in rows):
            return  # a missing or unreadable figure is a problem of its own
        row, total = found
        summed = sum(a for _, a in rows if a is not None)
        if summed != total:
            self.add(
                row,
                _AMOUNT,
                f"totals {self._item_name(key)} is {total}, but {what} add up to {summed} "
                f"({_rows_text([r for r, _ in rows])})",
            )


def _amounts(*found: tuple[int, int | None] | None) -> list[int] | None:
    """The amounts of (row, amount) pairs; None if one is missing or unreadable."""
    amounts = [f[1] for f in found if f is not None and f[1] is not None]
    return amounts if len(amounts) == len(found) else None


def _name(end: bytes) -> str:
    return "CRLF" if end == b"\r\n" else "LF"


def check_csv(content: bytes, market: str | None, problems: Problems) -> str | None:
    """Add what is wrong with a CSV report to `problems`; the market it was checked as
    (the file's own when it names a known one, else `market`)."""
    return CsvCheck(problems, market).run(content)

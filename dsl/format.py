"""Syntax tree → canonical source. `parse(format_policy(p)) == p` for every tree the parser
can produce (held by a property test), so `pitboss fmt` never changes a policy's meaning."""

from __future__ import annotations

from decimal import Decimal

from dsl import ast
from dsl.parser import keywords
from dsl.values import format_duration

# Binding strength; a child that binds looser than its place requires gets parentheses.
_OR, _AND, _NOT, _CMP, _ADD, _MUL, _NEG, _ATOM = range(1, 9)
_BINARY_PREC = {"+": _ADD, "-": _ADD, "*": _MUL, "/": _MUL}


def _prec(e: ast.Expr) -> int:
    match e:
        case ast.Logical(op="or"):
            return _OR
        case ast.Logical():
            return _AND
        case ast.Not():
            return _NOT
        case ast.Compare() | ast.In():
            return _CMP
        case ast.Binary(op=op):
            return _BINARY_PREC[op]
        case ast.Neg():
            return _NEG
        case _:
            return _ATOM


def format_number(v: int | float) -> str:
    if isinstance(v, int):
        return str(v)
    text = format(Decimal(repr(v)), "f")
    return text if "." in text else text + ".0"


def format_string(s: str) -> str:
    body = s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{body}"'


def _ends_with_number(e: ast.Expr) -> bool:
    """Whether the last token of `e` is a bare number, which an upper-case word right after
    it would turn into money (`5 B` reads as five of currency B)."""
    match e:
        case ast.Number():
            return True
        case ast.Binary(right=r) | ast.Compare(right=r) | ast.Logical(right=r):
            return _ends_with_number(r)
        case ast.In(container=r) | ast.Neg(operand=r) | ast.Not(operand=r):
            return _ends_with_number(r)
        case _:
            return False


def _guarded(e: ast.Expr, text: str, followed_by: str) -> str:
    if followed_by[:1].isupper() and _ends_with_number(e):
        return f"({text})"
    return text


def format_expr(e: ast.Expr, indent: str | None = None) -> str:
    """One expression as source. With `indent`, sequences are laid out a step a line."""
    return _Formatter(indent).expr(e, 0)


class _Formatter:
    def __init__(self, indent: str | None) -> None:
        self.indent = indent

    def expr(self, e: ast.Expr, need: int) -> str:
        text = self._bare(e)
        return f"({text})" if _prec(e) < need else text

    def _bare(self, e: ast.Expr) -> str:
        match e:
            case ast.Number(value=v):
                return format_number(v)
            case ast.Money(amount=a, currency=c):
                return f"{format(a, 'f')} {c}"
            case ast.Duration(millis=ms, text=text):
                return text or format_duration(ms)
            case ast.String(value=s):
                return format_string(s)
            case ast.Bool(value=b):
                return "true" if b else "false"
            case ast.Name(name=n):
                # Only parentheses keep a keyword-named name from reading as the keyword.
                return f"({n})" if n in keywords() else n
            case ast.Attr(base=b, name=n):
                return f"{b}.{n}"
            case ast.Neg(operand=o):
                return f"-{self.expr(o, _NEG)}"
            case ast.Not(operand=o):
                return f"not {self.expr(o, _NOT)}"
            case ast.Binary(op=op, left=left, right=right):
                p = _BINARY_PREC[op]
                return f"{self.expr(left, p)} {op} {self.expr(right, p + 1)}"
            case ast.Compare(op=op, left=left, right=right):
                return f"{self.expr(left, _ADD)} {op} {self.expr(right, _ADD)}"
            case ast.In(item=item, container=c, negated=neg):
                word = "not in" if neg else "in"
                return f"{self.expr(item, _ADD)} {word} {self.expr(c, _ADD)}"
            case ast.Logical(op=op, left=left, right=right):
                p = _OR if op == "or" else _AND
                return f"{self.expr(left, p)} {op} {self.expr(right, p + 1)}"
            case ast.ListLit(items=items):
                return "[" + ", ".join(self.expr(i, 0) for i in items) + "]"
            case ast.Call():
                return self._call(e)
            case ast.Sequence():
                return self._sequence(e)

    def _call(self, c: ast.Call) -> str:
        parts = [", ".join(self.expr(a, 0) for a in c.args)]
        if c.where is not None:
            parts.append(f"where {self.expr(c.where, 0)}")
        if c.by is not None:
            parts.append(f"by {c.by.name}")
        if c.over is not None:
            parts.append(f"over {self.expr(c.over, 0)}")
        if c.within is not None:
            parts.append(f"within {self.expr(c.within, 0)}")
        inner = " ".join(p for p in parts if p)
        alias = f" as {c.alias.name}" if c.alias else ""
        return f"{c.func.name}({inner}){alias}"

    def _step(self, s: ast.Step, next_word: str) -> str:
        text = f"{s.name.name}: " if s.name else ""
        text += ("!" if s.absent else "") + s.event.name
        if s.where is not None:
            after = "within" if s.within is not None else next_word
            text += f" where {_guarded(s.where, self.expr(s.where, 0), after)}"
        if s.within is not None:
            text += f" within {_guarded(s.within, self.expr(s.within, 0), next_word)}"
        return text

    def _sequence(self, s: ast.Sequence) -> str:
        head = "sequence" + (f" within {self.expr(s.within, 0)}" if s.within else "")
        firsts = [(st.name.name if st.name else st.event.name) for st in s.steps[1:]]
        steps = [self._step(step, nxt) for step, nxt in zip(s.steps, [*firsts, "}"], strict=True)]
        if self.indent is None:
            return f"{head} {{ {' '.join(steps)} }}"
        inner = self.indent + "  "
        body = "".join(f"\n{inner}{line}" for line in steps)
        return f"{head} {{{body}\n{self.indent}}}"


def _rule(r: ast.Rule) -> list[str]:
    head = f"rule {r.name.name}" + (
        f" {format_string(r.description.value)}" if r.description else ""
    )
    lines = [head + " {"]
    if r.on is not None:
        on = "  on " + ", ".join(e.name for e in r.on.events)
        if r.on.where is not None:
            on += f" where {format_expr(r.on.where, '  ')}"
        lines.append(on)
    for word, expr in (("when", r.when), ("except", r.except_), ("score", r.score)):
        if expr is not None:
            lines.append(f"  {word} {format_expr(expr, '  ')}")
    for word, ident in (
        ("severity", r.severity),
        ("action", r.action),
        ("mode", r.mode),
        ("family", r.family),
    ):
        if ident is not None:
            lines.append(f"  {word} {ident.name}")
    if r.reason is not None:
        lines.append(f"  reason {format_string(r.reason.value)}")
    lines.append("}")
    return lines


def _decide(d: ast.Decide) -> list[str]:
    lines = ["decide {"]
    lines += [f"  score {b.op} {format_expr(b.threshold)} -> {b.action.name}" for b in d.bands]
    if d.otherwise is not None:
        lines.append(f"  else {d.otherwise.name}")
    lines.append("}")
    return lines


def _step_line(step: ast.TimelineStep) -> str:
    match step:
        case ast.TimelineEvent(at=at, event=ev, fields=fields):
            nexts = [a.field.name for a in fields[1:]] + [""] * bool(fields)
            assigns = "".join(
                f" {a.field.name}={_guarded(a.value, format_expr(a.value), nxt)}"
                for a, nxt in zip(fields, nexts, strict=True)
            )
            return f"at {format_duration(at.millis)} {ev.name}{assigns}"
        case ast.ExpectFires(rule=r, mode=mode):
            tail = {"fires": "fires", "not": "does not fire", "never": "never fires"}[mode]
            return f"expect {r.name} {tail}"
        case ast.ExpectDecision(action=a):
            return f"expect decision {a.name}"
        case ast.ExpectScore(op=op, value=v):
            return f"expect score {op} {format_expr(v)}"
        case ast.ExpectValue(rule=r, name=n, op=op, value=v):
            return f"expect {r.name}.{n.name} {op} {format_expr(v)}"


def _test(t: ast.PolicyTest) -> list[str]:
    head = f"test {format_string(t.name.value)}"
    if t.market is not None:
        head += f" market {t.market.name}"
    if t.start is not None:
        head += f" start {format_string(t.start.value)}"
    return [head + " {", *(f"  {_step_line(s)}" for s in t.steps), "}"]


def format_policy(p: ast.Policy) -> str:
    """The whole policy in canonical layout and order."""
    head = f"policy {p.name.name} version {format_number(p.version.value)}"
    if p.markets:
        head += " for " + ", ".join(m.name for m in p.markets)
    if p.description is not None:
        head += f" {format_string(p.description.value)}"
    blocks: list[list[str]] = [[head]]
    if p.params:
        blocks.append(
            [
                f"param {x.name.name}: {'list of ' if x.type.is_list else ''}{x.type.name.name}"
                f" = {format_expr(x.default)}"
                for x in p.params
            ]
        )
    for m in p.market_blocks:
        body = "; ".join(f"{o.name.name} = {format_expr(o.value)}" for o in m.overrides)
        blocks.append(
            [f"market {m.market.name} {{ {body} }}" if body else f"market {m.market.name} {{ }}"]
        )
    if p.lists:
        lines = []
        for lst in p.lists:
            typed = f": {lst.elem_type.name}" if lst.elem_type else ""
            if lst.file is not None:
                source = f"file {format_string(lst.file.value)}"
            else:
                source = "[" + ", ".join(format_expr(i) for i in lst.items or ()) + "]"
            lines.append(f"list {lst.name.name}{typed} = {source}")
        blocks.append(lines)
    if p.defines:
        blocks.append([f"define {d.name.name} = {format_expr(d.body, '')}" for d in p.defines])
    blocks += [_rule(r) for r in p.rules]
    if p.decide is not None:
        blocks.append(_decide(p.decide))
    blocks += [_test(t) for t in p.tests]
    return "\n\n".join("\n".join(b) for b in blocks) + "\n"

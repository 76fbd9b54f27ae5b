"""The filter language of views: a small, safe subset of Python, compiled once, evaluated per file.

A filter is one Python expression over twelve fields::

    package.name  package.upload_time  package.age_days  package.status  package.cve_max_score
    release.version  release.upload_time  release.age_days  release.cve_max_score  release.advisories
    file.name  file.upload_time

built from comparisons (``== != < <= > >= in not in``, chained or not), ``and``/``or``/``not``,
parentheses, and literals: strings, numbers, and tuples or lists of them (right of ``in``).

It is parsed with :mod:`ast` and checked node by node against that whitelist; nothing is ever
``eval``-ed, and a name or attribute outside those fields is refused. Each comparison is
typed when the filter is compiled, so that evaluating it cannot raise:

* ``release.version`` compares as a PEP 440 version (``release.version < "2"`` keeps 1.9 and
  1.10); each literal must parse as one.
* ``*.upload_time`` compares as a time: a literal is an ISO 8601 date or date-time, read as UTC
  when it carries no offset; a bare date means its midnight (``<= "2025-01-01"`` keeps what was
  uploaded up to 2025-01-01T00:00:00Z).
* ``*.age_days`` is a number of days (fractional) since that upload time, by :mod:`bale.clock`.
* ``package.name`` compares normalized (PEP 503), so ``"Foo_Bar"`` matches ``foo-bar``;
  ``file.name`` compares as written. A string literal ``in`` a name field is a substring test.

* ``*.cve_max_score`` is the highest CVSS base score of the advisories affecting the release (or
  any release of the project): 0 when there is none, unknown when one carries no score.
  ``release.advisories`` is the set of their ids and aliases, tested with ``"ID" in`` / ``not in``.
* ``package.status`` is the PEP 792 status, compared with ``==``, ``!=``, ``in``, ``not in``.

``package.*`` times are the project's first upload, ``release.*`` times the release's first
file; ``file.upload_time`` is the file's own.

**Unknown upload times** (an upstream that serves none, a record from before they were kept).
Logic is three-valued: a comparison with an unknown value is *unknown*; ``not`` keeps it
unknown; ``and``/``or`` resolve it when the other side decides (``False and unknown`` is False,
``True or unknown`` is True). A file is shown only when the whole filter is True, so a file
whose upload time is unknown is hidden by every filter whose outcome depends on that time:
``release.upload_time <= "2025-01-01"``, ``release.age_days >= 7`` and
``not (release.age_days < 7)`` all hide it, while ``package.name != "x" or release.age_days >= 7``
keeps it for every package but ``x``. The same holds for a version PEP 440 cannot parse.

Pathological input is bounded before and after parsing (:data:`MAX_LENGTH`, :data:`MAX_DEPTH`,
:data:`MAX_NODES`); evaluation visits each compiled node at most once, so its cost is at most the
node count.
"""

from __future__ import annotations

import ast
import datetime as dt
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, cast

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from ..errors import BadRequest
from ..packages.status import ACTIVE, STATUSES

MAX_LENGTH: Final = 2000
MAX_DEPTH: Final = 24
MAX_NODES: Final = 400

Kind = Literal["name", "filename", "version", "time", "days", "score", "ids", "status"]

#: Every field, with the kind its values compare as.
FIELDS: Final[dict[str, Kind]] = {
    "package.name": "name",
    "package.upload_time": "time",
    "package.age_days": "days",
    "release.version": "version",
    "release.upload_time": "time",
    "release.age_days": "days",
    "file.name": "filename",
    "file.upload_time": "time",
    "release.cve_max_score": "score",
    "package.cve_max_score": "score",
    "release.advisories": "ids",
    "package.status": "status",
}

#: The fields that need the project's advisory summary (one document read per page render).
ADVISORY_FIELDS: Final = frozenset({"release.cve_max_score", "package.cve_max_score", "release.advisories"})

_OPERATORS: Final[dict[type[ast.cmpop], str]] = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.In: "in",
    ast.NotIn: "not in",
}
_ORDERED: Final = {"<", "<=", ">", ">="}
_MIRROR: Final = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}
_ALLOWED_FIELDS: Final = ", ".join(FIELDS)
_ALLOWED_SYNTAX: Final = (
    "comparisons (== != < <= > >= in, not in), and, or, not, parentheses, "
    "and string or number literals (tuples or lists of them after in)"
)

#: Three-valued truth: None is unknown.
Truth = bool | None


class FilterError(BadRequest):
    """A filter refused when a view is created or updated: says where and what is allowed."""

    def __init__(self, message: str, column: int | None = None) -> None:
        where = f"filter, column {column}: " if column is not None else "filter: "
        super().__init__(where + message)
        self.column = column


@dataclass(frozen=True, slots=True)
class Subject:
    """What one file is judged on. Times are aware UTC datetimes, or None when unknown."""

    package_name: str
    release_version: str
    file_name: str
    file_time: dt.datetime | None = None
    release_time: dt.datetime | None = None
    package_time: dt.datetime | None = None
    #: The highest CVSS base score among the advisories affecting the release (0 when none
    #: does; None when one does but carries no score) and among all of the project's.
    release_score: float | None = 0.0
    package_score: float | None = 0.0
    #: Ids and aliases of the advisories affecting the release.
    release_advisories: frozenset[str] = frozenset()
    package_status: str = ACTIVE

    def value(self, name: str, now: dt.datetime) -> Any:
        """The field's value in the kind it compares as; None when unknown."""
        if name == "release.cve_max_score":
            return self.release_score
        if name == "package.cve_max_score":
            return self.package_score
        if name == "release.advisories":
            return self.release_advisories
        if name == "package.status":
            return self.package_status
        if name == "package.name":
            return canonicalize_name(self.package_name)
        if name == "file.name":
            return self.file_name
        if name == "release.version":
            try:
                return Version(self.release_version)
            except InvalidVersion:
                return None
        scope, _, what = name.partition(".")
        when = {"package": self.package_time, "release": self.release_time, "file": self.file_time}[scope]
        if when is None or what == "upload_time":
            return when
        return (now - when).total_seconds() / 86400


@dataclass
class Budget:
    """Counts the compiled nodes one evaluation visits (never more than the filter's ``nodes``)."""

    steps: int = 0


Node = Callable[[Subject, dt.datetime, Budget, dict[str, Any]], Truth]


@dataclass(frozen=True)
class Filter:
    """A compiled filter. ``keeps`` decides one file; ``explain`` says which comparisons failed."""

    source: str
    nodes: int
    fields: frozenset[str]
    _root: Node = field(repr=False, compare=False)
    _leaves: tuple[tuple[str, Node], ...] = field(repr=False, compare=False)

    def truth(self, subject: Subject, now: dt.datetime, budget: Budget | None = None) -> Truth:
        """True, False, or None (unknown: it hinges on a value the file does not have)."""
        return self._root(subject, now, budget or Budget(), {})

    def keeps(self, subject: Subject, now: dt.datetime, budget: Budget | None = None) -> bool:
        """Whether the view shows this file: only when the filter is True (unknown hides)."""
        return self.truth(subject, now, budget) is True

    def explain(self, subject: Subject, now: dt.datetime) -> list[str]:
        """Each comparison of the filter that is not True for ``subject``, with its value."""
        out = []
        for text, leaf in self._leaves:
            result = leaf(subject, now, Budget(), {})
            if result is not True:
                out.append(f"{text} is {'unknown' if result is None else 'false'}")
        return out


def compile_filter(source: str) -> Filter:
    """Check ``source`` against the whitelist and compile it; :class:`FilterError` when refused."""
    if not isinstance(source, str):
        raise FilterError("must be text")
    if len(source) > MAX_LENGTH:
        raise FilterError(f"is {len(source)} characters long; at most {MAX_LENGTH} are allowed")
    if "\x00" in source:
        raise FilterError("contains a NUL character")
    if not source.strip():
        raise FilterError("is empty; leave the filter out to show everything")
    _check_nesting(source)
    try:
        with warnings.catch_warnings():
            # "'a' is 'b'" and stray escapes warn at parse time; the whitelist refuses them anyway.
            warnings.simplefilter("ignore", SyntaxWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as e:
        raise FilterError(f"is not a valid expression ({e.msg})", e.offset or None) from None
    except (RecursionError, MemoryError, ValueError):
        raise FilterError(f"is nested too deeply; at most {MAX_DEPTH} levels are allowed") from None
    count = sum(1 for _ in ast.walk(tree))
    if count > MAX_NODES:
        raise FilterError(f"has {count} parts; at most {MAX_NODES} are allowed")
    compiler = _Compiler(source.strip())
    root = compiler.expr(tree.body, 1)
    return Filter(source.strip(), count, frozenset(compiler.fields), root, tuple(compiler.leaves))


def _check_nesting(source: str) -> None:
    """Refuse deep bracket nesting before the parser sees it (its own limits raise unevenly)."""
    depth = 0
    for column, char in enumerate(source, 1):
        if char in "([{":
            depth += 1
            if depth > MAX_DEPTH:
                raise FilterError(f"is nested too deeply; at most {MAX_DEPTH} levels are allowed", column)
        elif char in ")]}":
            depth -= 1


class _Compiler:
    def __init__(self, source: str) -> None:
        self.source = source
        self.fields: set[str] = set()
        self.leaves: list[tuple[str, Node]] = []

    def refuse(self, node: ast.AST, message: str) -> FilterError:
        offset = getattr(node, "col_offset", -1)
        if offset < 0:
            return FilterError(message, 0)
        # ast counts UTF-8 bytes: after "é" or "ü" the column a person counts is smaller.
        lines = self.source.splitlines() or [""]
        line = lines[min(getattr(node, "lineno", 1), len(lines)) - 1]
        return FilterError(message, len(line.encode()[:offset].decode(errors="ignore")) + 1)

    def expr(self, node: ast.expr, depth: int) -> Node:
        if depth > MAX_DEPTH:
            raise self.refuse(node, f"is nested too deeply; at most {MAX_DEPTH} levels are allowed")
        if isinstance(node, ast.BoolOp):
            parts = [self.expr(v, depth + 1) for v in node.values]
            return _all(parts) if isinstance(node.op, ast.And) else _any(parts)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return _not(self.expr(node.operand, depth + 1))
        if isinstance(node, ast.Compare):
            return self.compare(node)
        if isinstance(node, ast.Attribute | ast.Name):
            name = self.field_name(node)
            raise self.refuse(node, f"{name} alone is not a condition; compare it, e.g. {name} == …")
        if isinstance(node, ast.Constant):
            raise self.refuse(node, f"the literal {node.value!r} alone is not a condition; compare a field")
        raise self.refuse(node, f"{_describe(node)} is not allowed; allowed: {_ALLOWED_SYNTAX}")

    def compare(self, node: ast.Compare) -> Node:
        pairs: list[Node] = []
        left = node.left
        for op, right in zip(node.ops, node.comparators, strict=True):
            pairs.append(self.pair(node, left, op, right))
            left = right
        return pairs[0] if len(pairs) == 1 else _all(pairs)

    def pair(self, whole: ast.Compare, left: ast.expr, op: ast.cmpop, right: ast.expr) -> Node:
        symbol = _OPERATORS.get(type(op))
        if symbol is None:
            raise self.refuse(
                whole, f"the operator {type(op).__name__} is not allowed; allowed: == != < <= > >= in, not in"
            )
        for side in (left, right):
            if not isinstance(
                side, ast.Attribute | ast.Name | ast.Constant | ast.Tuple | ast.List | ast.UnaryOp
            ):
                raise self.refuse(side, f"{_describe(side)} is not allowed; allowed: {_ALLOWED_SYNTAX}")
        left_field = self.maybe_field(left)
        right_field = self.maybe_field(right)
        if left_field and right_field:
            raise self.refuse(left, "compare a field with a literal, not with another field")
        if not left_field and not right_field:
            raise self.refuse(left, f"a comparison needs one field ({_ALLOWED_FIELDS})")
        text = ast.get_source_segment(self.source, whole) or symbol
        if left_field:
            leaf = self.leaf(left_field, symbol, right, mirrored=False)
        else:
            assert right_field
            if symbol in ("in", "not in"):
                # "musl" in file.name: a substring test, only for the name fields.
                leaf = self.substring(right_field, symbol, left)
            else:
                leaf = self.leaf(right_field, _MIRROR[symbol], left, mirrored=True)
        self.leaves.append((text, leaf))
        return leaf

    def maybe_field(self, node: ast.expr) -> str | None:
        if isinstance(node, ast.Attribute | ast.Name):
            name = self.field_name(node)
            if name not in FIELDS:
                raise self.refuse(node, f"unknown field {name}; allowed: {_ALLOWED_FIELDS}")
            self.fields.add(name)
            return name
        return None

    def field_name(self, node: ast.expr) -> str:
        written = ast.get_source_segment(self.source, node) or ""
        if not written.isascii():
            # Python folds "ｒelease" (NFKC) into release: the filter would run on a field
            # other than the one its text shows.
            raise self.refuse(node, f"{written[:40]!r} is not a field name as written; use ASCII letters")
        if isinstance(node, ast.Name):
            return node.id
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            return f"{node.value.id}.{node.attr}"
        raise self.refuse(node, f"unknown field {ast.unparse(node)[:40]}; allowed: {_ALLOWED_FIELDS}")

    def leaf(self, name: str, symbol: str, literal: ast.expr, *, mirrored: bool) -> Node:
        kind = FIELDS[name]
        if symbol in ("in", "not in"):
            if not isinstance(literal, ast.Tuple | ast.List):
                raise self.refuse(literal, f"{symbol} needs a literal tuple or list, e.g. {name} in (…, …)")
            if kind == "ids":
                raise self.refuse(
                    literal,
                    f'{name} is a set of advisory ids; test one, e.g. "PYSEC-2023-192" {symbol} {name}',
                )
            values = frozenset(self.value(kind, name, item) for item in literal.elts)
            return _member(name, values, symbol == "in")
        if kind == "ids":
            raise self.refuse(
                literal, f'{name} is a set of advisory ids; test one, e.g. "PYSEC-2023-192" in {name}'
            )
        if kind in ("name", "filename", "status") and symbol in _ORDERED:
            raise self.refuse(literal, f"{name} compares only with ==, !=, in and not in")
        return _order(name, symbol, self.value(kind, name, literal))

    def substring(self, name: str, symbol: str, literal: ast.expr) -> Node:
        if FIELDS[name] not in ("name", "filename", "ids"):
            raise self.refuse(
                literal,
                f"only package.name, file.name and release.advisories can be on the right of {symbol}",
            )
        if not (isinstance(literal, ast.Constant) and isinstance(literal.value, str)):
            raise self.refuse(literal, f"the left of {symbol} {name} must be a string literal")
        part: str = literal.value
        positive = symbol == "in"

        def node(subject: Subject, now: dt.datetime, budget: Budget, memo: dict[str, Any]) -> Truth:
            budget.steps += 1
            return (part in _value(name, subject, now, memo)) == positive

        return node

    def value(self, kind: Kind, name: str, node: ast.expr) -> Any:
        """The literal ``node`` as a value of ``kind``; refused when it cannot be one."""
        if (
            isinstance(node, ast.UnaryOp)
            and isinstance(node.op, ast.USub)
            and isinstance(node.operand, ast.Constant)
            and type(node.operand.value) in (int, float)
        ):
            number: Any = -(cast(float, node.operand.value))
        elif isinstance(node, ast.Constant) and type(node.value) in (str, int, float):
            number = node.value
        elif isinstance(node, ast.Constant):
            raise self.refuse(node, f"{node.value!r:.40} is not a string or a number")
        else:
            raise self.refuse(node, f"{_describe(node)} is not a literal; use a string or a number")
        if kind in ("days", "score"):
            try:
                days = float(number) if not isinstance(number, str) else float("nan")
            except OverflowError:
                days = float("inf")
            if days != days or days in (float("inf"), float("-inf")):
                what = "a number of days" if kind == "days" else "a CVSS score (0 to 10)"
                raise self.refuse(node, f"{name} compares with {what}, e.g. {name} >= 7")
            return days
        if not isinstance(number, str):
            raise self.refuse(node, f'{name} compares with a string, e.g. {name} == "…"')
        if kind == "name":
            return canonicalize_name(number)
        if kind == "status":
            if number.lower() not in STATUSES:
                raise self.refuse(
                    node, f"{number[:40]!r} is not a project status; one of {', '.join(STATUSES)}"
                )
            return number.lower()
        if kind == "version":
            try:
                return Version(number)
            except InvalidVersion:
                raise self.refuse(node, f"{number!r} is not a PEP 440 version") from None
        if kind == "time":
            return self.time(node, name, number)
        return number

    def time(self, node: ast.expr, name: str, text: str) -> dt.datetime:
        try:
            if len(text) == 10:
                when = dt.datetime.combine(dt.date.fromisoformat(text), dt.time())
            else:
                when = dt.datetime.fromisoformat(text)
        except ValueError:
            raise self.refuse(
                node, f'{text[:40]!r} is not an ISO 8601 date or time, e.g. {name} <= "2025-01-01"'
            ) from None
        try:
            return when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)
        except OverflowError:  # "0001-01-01T00:00:00+01:00" is before year 1 in UTC
            raise self.refuse(node, f"{text[:40]!r} is out of range in UTC (years 1 to 9999)") from None


def _describe(node: ast.AST) -> str:
    # In the filter's own words, never Python's class names ("Set", "UnaryOp"), which the
    # person writing a filter need not know.
    words = {
        "Call": "a function call",
        "Subscript": "indexing",
        "BinOp": "arithmetic",
        "Lambda": "lambda",
        "IfExp": "an if-expression",
        "Attribute": "this attribute",
        "JoinedStr": "an f-string",
        "NamedExpr": "an assignment",
        "Set": "a set (use a tuple or a list)",
        "Dict": "a dict",
        "ListComp": "a comprehension",
        "SetComp": "a comprehension",
        "DictComp": "a comprehension",
        "GeneratorExp": "a comprehension",
        "Starred": "unpacking (*)",
        "UnaryOp": "an operator before a value (only a minus before a number is allowed)",
        "Tuple": "a nested tuple",
        "List": "a nested list",
    }.get(type(node).__name__)
    if words:
        return words
    try:
        text = ast.unparse(node)
    except Exception:
        text = ""
    return f"{text[:40]!r}" if text else "this syntax"


def _value(name: str, subject: Subject, now: dt.datetime, memo: dict[str, Any]) -> Any:
    # One lookup per field and file, however often the filter names it.
    if name not in memo:
        memo[name] = subject.value(name, now)
    return memo[name]


def _order(name: str, symbol: str, literal: Any) -> Node:
    compare: Callable[[Any, Any], bool] = {
        "==": lambda a, b: a == b,
        "!=": lambda a, b: a != b,
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
    }[symbol]

    def node(subject: Subject, now: dt.datetime, budget: Budget, memo: dict[str, Any]) -> Truth:
        budget.steps += 1
        value = _value(name, subject, now, memo)
        return None if value is None else compare(value, literal)

    return node


def _member(name: str, values: frozenset[Any], positive: bool) -> Node:
    def node(subject: Subject, now: dt.datetime, budget: Budget, memo: dict[str, Any]) -> Truth:
        budget.steps += 1
        value = _value(name, subject, now, memo)
        return None if value is None else (value in values) == positive

    return node


def _not(inner: Node) -> Node:
    def node(subject: Subject, now: dt.datetime, budget: Budget, memo: dict[str, Any]) -> Truth:
        budget.steps += 1
        result = inner(subject, now, budget, memo)
        return None if result is None else not result

    return node


def _all(parts: Sequence[Node]) -> Node:
    def node(subject: Subject, now: dt.datetime, budget: Budget, memo: dict[str, Any]) -> Truth:
        budget.steps += 1
        unknown = False
        for part in parts:
            result = part(subject, now, budget, memo)
            if result is False:
                return False
            unknown = unknown or result is None
        return None if unknown else True

    return node


def _any(parts: Sequence[Node]) -> Node:
    def node(subject: Subject, now: dt.datetime, budget: Budget, memo: dict[str, Any]) -> Truth:
        budget.steps += 1
        unknown = False
        for part in parts:
            result = part(subject, now, budget, memo)
            if result is True:
                return True
            unknown = unknown or result is None
        return None if unknown else False

    return node

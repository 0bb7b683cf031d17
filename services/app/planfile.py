"""Reading plan files (``lienthong.plan/v1``) and the agency registry
(``lienthong.agencies/v1``), reporting every problem with file, line and field.

See ``docs/plan-file-format.md``. Reading never stops at the first problem: a file
is read to the end and each problem becomes a :class:`Problem`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import yaml

from domain.deadlines import parse_deadline
from domain.errors import DomainError
from domain.ids import SLUG
from domain.indicator import parse_targets
from domain.items import prune
from domain.messages import vietnamese_first
from domain.plan import REPORTING
from domain.targets import read_target
from domain.text import character_problem
from domain.units import parse_unit

PLAN_FORMAT = "lienthong.plan/v1"
REGISTRY_FORMAT = "lienthong.agencies/v1"

Path_ = tuple[str | int, ...]
INDICATOR_CODE = re.compile(r"^[A-Z][A-Z0-9_]*$")


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with an input file."""

    file: str
    line: int
    field: str
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.code}: {self.said}"

    @property
    def said(self) -> str:
        """What a person reads: the code's Vietnamese sentence, then the detail."""
        return vietnamese_first(self.code, self.message)

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "field": self.field,
            "code": self.code,
            "message": self.message,
        }


class LineMap:
    """Line numbers (1-based) of every node of a YAML document, by path."""

    def __init__(self) -> None:
        self.lines: dict[Path_, int] = {}

    def line(self, path: Path_) -> int:
        while path and path not in self.lines:
            path = path[:-1]
        return self.lines.get(path, 1)


def _construct(node: yaml.Node, path: Path_, lines: LineMap) -> Any:
    lines.lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        result = {}
        for key_node, value_node in node.value:
            key = yaml.safe_load(yaml.serialize(key_node))
            lines.lines[(*path, str(key))] = key_node.start_mark.line + 1
            result[str(key)] = _construct(value_node, (*path, str(key)), lines)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, (*path, i), lines) for i, item in enumerate(node.value)]
    return yaml.safe_load(yaml.serialize(node))


def read_yaml(path: Path) -> tuple[Any, LineMap, list[Problem]]:
    """Parse a YAML file, keeping the line of every node."""
    lines = LineMap()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return None, lines, [Problem(str(path), 1, "-", "FILE_UNREADABLE", str(error))]
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        return (
            None,
            lines,
            [Problem(str(path), line, "-", "YAML_SYNTAX", str(error).splitlines()[0])],
        )
    if node is None:
        return None, lines, [Problem(str(path), 1, "-", "FILE_EMPTY", "the file is empty")]
    return _construct(node, (), lines), lines, []


# Field checks ---------------------------------------------------------------

Check = Callable[[Any], str | None]


def text(value: Any) -> str | None:
    return None if isinstance(value, str) else "must be text"


def nonempty_text(value: Any) -> str | None:
    return None if isinstance(value, str) and value.strip() else "must be non-empty text"


def optional_text(value: Any) -> str | None:
    return None if value is None or isinstance(value, str) else "must be text or null"


def slug(value: Any) -> str | None:
    ok = isinstance(value, str) and SLUG.match(value)
    return None if ok else "must be a lowercase slug (letters, digits, '-', '.')"


def indicator_code(value: Any) -> str | None:
    ok = isinstance(value, str) and INDICATOR_CODE.match(value)
    return None if ok else "must be an indicator code in capitals, e.g. VNEID or DTI_RANK"


def year(value: Any) -> str | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and 2000 <= value <= 2100  # noqa: PLR2004
    return None if ok else "must be a year such as 2026"


def date_or_null(value: Any) -> str | None:
    if value is None or isinstance(value, dt.date):
        return None
    if isinstance(value, str):
        try:
            dt.date.fromisoformat(value)
        except ValueError:
            return "must be a date YYYY-MM-DD or null"
        return None
    return "must be a date YYYY-MM-DD or null"


def text_list(value: Any) -> str | None:
    ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
    return None if ok else "must be a list of text"


def boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else "must be true or false"


def number(value: Any) -> str | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and value >= 0
    return None if ok else "must be a non-negative number"


def reporting(value: Any) -> str | None:
    if text_list(value) or any(v not in REPORTING for v in value):
        return f"must be a list of {', '.join(REPORTING)}"
    return None


def deadline(value: Any) -> str | None:
    return optional_text(value)


def any_value(_: Any) -> str | None:
    return None


@dataclass(frozen=True)
class Spec:
    check: Check
    required: bool = False


HEADER: dict[str, Spec] = {
    "id": Spec(slug, required=True),
    "ward": Spec(nonempty_text, required=True),
    "ward_id": Spec(slug, required=True),
    "province": Spec(nonempty_text, required=True),
    "number": Spec(text),
    "issuer": Spec(slug, required=True),
    "issued_on": Spec(date_or_null),
    "year": Spec(year, required=True),
    "end_year": Spec(year),
    "title": Spec(nonempty_text, required=True),
    "coordinator": Spec(slug, required=True),
    "steering_committee": Spec(slug),
    "bases": Spec(text_list, required=True),
    "source": Spec(nonempty_text, required=True),
    "reporting": Spec(reporting, required=True),
    "default_lead": Spec(text_list),
    "default_monitor": Spec(text_list),
    "note": Spec(text),
}
INDICATOR: dict[str, Spec] = {
    "number": Spec(nonempty_text, required=True),
    "code": Spec(indicator_code),
    "parent": Spec(text),
    "group": Spec(boolean),
    "section": Spec(text),
    "name": Spec(nonempty_text, required=True),
    "unit": Spec(text),
    "targets": Spec(any_value),
    "lead": Spec(text_list),
    "lead_text": Spec(text),
    "monitor": Spec(text_list),
    "monitor_text": Spec(text),
    "note": Spec(text),
    "same_as": Spec(nonempty_text),
    "printed_number": Spec(nonempty_text),
}
TASK: dict[str, Spec] = {
    "key": Spec(nonempty_text, required=True),
    "number": Spec(nonempty_text, required=True),
    "parent": Spec(text),
    "group": Spec(boolean),
    "from_body": Spec(boolean),
    "section": Spec(nonempty_text, required=True),
    "section_title": Spec(text),
    "text": Spec(nonempty_text, required=True),
    "lead": Spec(text_list),
    "lead_text": Spec(text),
    "coordinating": Spec(text_list),
    "coordinating_text": Spec(text),
    "expected_result": Spec(text),
    "deadline": Spec(deadline),
    "budget_million_vnd": Spec(number),
    "note": Spec(text),
}
AGENCY: dict[str, Spec] = {
    "id": Spec(slug, required=True),
    "ward": Spec(slug, required=True),
    "name_vi": Spec(nonempty_text, required=True),
    "name_en": Spec(nonempty_text, required=True),
    "kind": Spec(nonempty_text, required=True),
    "aliases": Spec(text_list),
    "members": Spec(text_list),
}


def strings(value: Any) -> Iterator[str]:
    """Every text in a value read from YAML, keys of mappings included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings(key)
            yield from strings(item)


@dataclass
class Reader:
    """Collects the problems of one file."""

    file: str
    lines: LineMap
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    def problem(self, path: Path_, code: str, message: str) -> None:
        self.problems.append(self._at(path, code, message))

    def warning(self, path: Path_, code: str, message: str) -> None:
        """Something the import stores but a person should look at (listed, not refused)."""
        self.warnings.append(self._at(path, code, message))

    def _at(self, path: Path_, code: str, message: str) -> Problem:
        name = ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in path).replace(".[", "[")
        return Problem(self.file, self.lines.line(path), name or "-", code, message)

    def record(self, value: Any, path: Path_, specs: dict[str, Spec]) -> dict[str, Any]:
        """Check one mapping against its field specs; return its valid fields."""
        if not isinstance(value, dict):
            self.problem(path, "FIELD_TYPE", "must be a mapping")
            return {}
        result = {}
        for name, spec in specs.items():
            if name not in value or (value[name] is None and spec.check is not date_or_null):
                if spec.required:
                    self.problem((*path, name), "FIELD_REQUIRED", "is required")
                continue
            error = spec.check(value[name])
            if error:
                self.problem((*path, name), "FIELD_TYPE", error)
            elif self.characters((*path, name), value[name]):
                result[name] = value[name]
        for name in value:
            if name not in specs:
                self.problem(
                    (*path, name),
                    "FIELD_UNKNOWN",
                    f"is not a field of {path[-1] if path else 'the file'}",
                )
        return result

    def characters(self, path: Path_, value: Any) -> bool:
        """Every text in ``value`` (lists and mappings included) holds no character the
        system may not hold (:func:`domain.text.character_problem`); a problem for the
        first one found."""
        for text in strings(value):
            found = character_problem(text, free=True)
            if found is not None:
                self.problem(path, *found)
                return False
        return True

    def domain(self, path: Path_, check: Callable[[], object]) -> None:
        """Run a domain parser, turning its error into a problem."""
        try:
            check()
        except DomainError as error:
            self.problem(path, error.code, error.message)

    def unique(self, items: list[dict[str, Any]], name: str, section: str) -> None:
        seen: dict[str, int] = {}
        for index, item in enumerate(items):
            key = item.get(name)
            if not isinstance(key, str):
                continue
            if key in seen:
                self.problem(
                    (section, index, name), "DUPLICATE_KEY", f"{key!r} also at [{seen[key]}]"
                )
            seen.setdefault(key, index)


# The agency registry --------------------------------------------------------


@dataclass
class Registry:
    """The agencies every plan refers to, by id."""

    file: str
    agencies: dict[str, dict[str, Any]]
    problems: list[Problem]


def registry_entries(path: Path) -> tuple[Reader, list[Any]]:
    """One registry file's reader (its problems so far) and its list of agencies."""
    data, lines, problems = read_yaml(path)
    reader = Reader(str(path), lines, problems)
    if not isinstance(data, dict):
        if not problems:
            reader.problem((), "FIELD_TYPE", "the registry must be a mapping")
        return reader, []
    if data.get("format") != REGISTRY_FORMAT:
        reader.problem(("format",), "FORMAT_UNSUPPORTED", f"must be {REGISTRY_FORMAT}")
    raw = data.get("agencies")
    if not isinstance(raw, list):
        reader.problem(("agencies",), "FIELD_REQUIRED", "must be a list of agencies")
        return reader, []
    reader.unique(raw, "id", "agencies")
    return reader, raw


def read_registry(paths: Path | Sequence[Path]) -> Registry:
    """The agencies of one registry file, or of several read as one (a province's and
    each ward's): an id stated in two of them is a problem, and a collective's members
    may be in any of them."""
    files = [paths] if isinstance(paths, Path) else list(paths)
    agencies: dict[str, dict[str, Any]] = {}
    found_in: dict[str, str] = {}
    read = [registry_entries(path) for path in files]
    for reader, raw in read:
        for index, item in enumerate(raw):
            record = reader.record(item, ("agencies", index), AGENCY)
            key = record.get("id")
            if key is None:
                continue
            if found_in.setdefault(key, reader.file) != reader.file:
                message = f"{key!r} is also in {found_in[key]}"
                reader.problem(("agencies", index, "id"), "DUPLICATE_KEY", message)
            else:
                agencies[key] = prune(record)
    for reader, raw in read:
        for index, item in enumerate(raw):
            for member in item.get("members", []) if isinstance(item, dict) else []:
                if member not in agencies:
                    reader.problem(
                        ("agencies", index, "members"),
                        "UNKNOWN_AGENCY",
                        f"{member!r} is not in the registry",
                    )
    problems = [problem for reader, _ in read for problem in reader.problems]
    return Registry(", ".join(str(path) for path in files), agencies, problems)


# Plan files -----------------------------------------------------------------


@dataclass
class PlanFile:
    """A plan file as read: its normalised content and its problems."""

    file: str
    sha256: str
    key: str
    header: dict[str, Any]
    indicators: list[dict[str, Any]]
    tasks: list[dict[str, Any]]
    problems: list[Problem]
    warnings: list[Problem] = field(default_factory=list)

    def document(self) -> dict[str, Any]:
        """The normalised file: what a round trip through the store gives back."""
        return {
            "format": PLAN_FORMAT,
            "plan": {"id": self.key, **self.header},
            "indicators": self.indicators,
            "tasks": self.tasks,
        }

    def task_definitions(self) -> Iterator[tuple[str, dict[str, Any]]]:
        for task in self.tasks:
            yield task["key"], {k: v for k, v in task.items() if k != "key"}

    def indicator_definitions(self) -> Iterator[tuple[str, dict[str, Any]]]:
        for indicator in self.indicators:
            yield indicator["number"], {k: v for k, v in indicator.items() if k != "number"}


def _budget(reader: Reader, value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    ok = (
        isinstance(value, dict)
        and not number(value.get("total"))
        and isinstance(value.get("items"), list)
        and all(isinstance(i, dict) and not number(i.get("amount")) for i in value["items"])
        and all(not text_list(i.get("tasks", [])) for i in value["items"])
    )
    if not ok:
        reader.problem(
            ("budget",),
            "FIELD_TYPE",
            "must have a total and items with amounts (and, optionally, the task keys they fund)",
        )
        return None
    total = sum(i["amount"] for i in value["items"])
    if total != value["total"]:
        reader.problem(
            ("budget", "total"), "BUDGET_MISMATCH", f"items add up to {total}, not {value['total']}"
        )
    return dict(value)


def _items(
    reader: Reader, data: dict[str, Any], section: str, specs: dict[str, Spec]
) -> list[dict[str, Any]]:
    raw = data.get(section, [])
    if not isinstance(raw, list):
        reader.problem((section,), "FIELD_TYPE", "must be a list")
        return []
    reader.unique(raw, "key" if section == "tasks" else "number", section)
    return [prune(reader.record(item, (section, i), specs)) for i, item in enumerate(raw)]


def _check_agencies(reader: Reader, path: Path_, ids: list[str], registry: Registry) -> None:
    for agency in ids:
        if agency not in registry.agencies:
            reader.problem(
                path, "UNKNOWN_AGENCY", f"{agency!r} is not in the registry {registry.file}"
            )


def _qualitative(targets: Any) -> bool:
    """Every target a commitment ("X") or a wording not machine-judged: no unit needed."""
    if not isinstance(targets, list) or not targets:
        return False
    values = [t.get("value") for t in targets if isinstance(t, dict)]
    return len(values) == len(targets) and all(
        isinstance(v, str) and read_target(v).by_evidence for v in values
    )


def _check_indicator(reader: Reader, index: int, item: dict[str, Any], registry: Registry) -> None:
    path: Path_ = ("indicators", index)
    for name in ("lead", "monitor"):
        _check_agencies(reader, (*path, name), item.get(name, []), registry)
    if item.get("group"):
        return
    if not item.get("lead"):
        reader.problem((*path, "lead"), "FIELD_REQUIRED", "an indicator needs a lead unit")
    if item.get("unit"):
        reader.domain((*path, "unit"), lambda: parse_unit(item["unit"]))
    elif not _qualitative(item.get("targets")):
        reader.problem((*path, "unit"), "FIELD_REQUIRED", "an indicator needs a unit")
    _check_targets(reader, path, item.get("targets"))


def _check_targets(reader: Reader, path: Path_, targets: Any) -> None:
    """Targets (milestones): one a period, each readable or kept as not machine-judged
    (a warning); ``by`` a deadline wording."""
    if (
        not isinstance(targets, list)
        or not targets
        or not all(isinstance(t, dict) for t in targets)
    ):
        reader.problem((*path, "targets"), "FIELD_REQUIRED", "needs a list of {period, value}")
        return
    seen: dict[str, int] = {}
    for t_index, target in enumerate(targets):
        t_path = (*path, "targets", t_index)
        unknown = set(target) - {"period", "value", "by"}
        if unknown:
            reader.problem(
                t_path, "FIELD_UNKNOWN", f"unknown target fields: {', '.join(sorted(unknown))}"
            )
        reader.domain((*t_path, "value"), partial(parse_targets, [target]))
        _warn_unjudged(reader, t_path, target)
        if target.get("by") is not None:
            reader.domain((*t_path, "by"), partial(parse_deadline, target["by"]))
        period = str(target.get("period", ""))
        if period in seen:
            reader.problem(
                (*t_path, "period"),
                "TARGET_DUPLICATE",
                f"two targets for {period} (also at [{seen[period]}]): one target a period",
            )
        seen.setdefault(period, t_index)


def _warn_unjudged(reader: Reader, t_path: Path_, target: dict[str, Any]) -> None:
    wording = target.get("value")
    if isinstance(wording, str) and not read_target(wording).machine_judged:
        reader.warning(
            (*t_path, "value"),
            "TARGET_NOT_MACHINE_JUDGED",
            f"target {wording!r} for {target.get('period')} is kept as printed and judged "
            "by review of its evidence (a wording this system does not read); amend the "
            "plan to give it a figure",
        )


def _check_task(reader: Reader, index: int, item: dict[str, Any], registry: Registry) -> None:
    path: Path_ = ("tasks", index)
    for name in ("lead", "coordinating"):
        _check_agencies(reader, (*path, name), item.get(name, []), registry)
    if not item.get("group") and not item.get("lead"):
        reader.problem((*path, "lead"), "FIELD_REQUIRED", "a task needs a lead unit")
    reader.domain((*path, "deadline"), lambda: parse_deadline(item.get("deadline")))


def _check_parents(reader: Reader, items: list[dict[str, Any]], section: str, name: str) -> None:
    keys = {item.get(name) for item in items}
    for index, item in enumerate(items):
        parent = item.get("parent")
        if parent is not None and parent not in keys:
            reader.problem(
                (section, index, "parent"), "UNKNOWN_PARENT", f"no {name} {parent!r} in the plan"
            )


def _read_header(reader: Reader, data: dict[str, Any], registry: Registry) -> dict[str, Any]:
    if data.get("format") != PLAN_FORMAT:
        reader.problem(
            ("format",), "FORMAT_UNSUPPORTED", f"must be {PLAN_FORMAT}, not {data.get('format')!r}"
        )
    for name in data:
        if name not in ("format", "plan", "indicators", "tasks", "budget"):
            reader.problem((name,), "FIELD_UNKNOWN", "is not a section of a plan file")
    header = reader.record(data.get("plan"), ("plan",), HEADER)
    if isinstance(header.get("issued_on"), dt.date):
        header["issued_on"] = header["issued_on"].isoformat()
    for name in ("issuer", "coordinator", "steering_committee"):
        if name in header:
            _check_agencies(reader, ("plan", name), [header[name]], registry)
    _check_span_and_defaults(reader, header, registry)
    for name in ("coordinator", "steering_committee"):
        if registry.agencies.get(str(header.get(name, "")), {}).get("kind") == "collective":
            msg = f"{header[name]!r} is a collective, which never acts in its own name"
            reader.problem(("plan", name), "COLLECTIVE_CANNOT_ACT", msg)
    return header


def _check_span_and_defaults(reader: Reader, header: dict[str, Any], registry: Registry) -> None:
    """The default lead and monitor are registered agencies; a span ends after it starts."""
    for name in ("default_lead", "default_monitor"):
        _check_agencies(reader, ("plan", name), header.get(name, []), registry)
    if header.get("end_year") is not None and header["end_year"] < header.get("year", 0):
        message = f"the plan's span ends ({header['end_year']}) before it starts ({header['year']})"
        reader.problem(("plan", "end_year"), "FIELD_TYPE", message)


def read_plan(path: Path, registry: Registry) -> PlanFile:
    """Read and check a plan file against the registry; never raises on bad content."""
    data, lines, problems = read_yaml(path)
    reader = Reader(str(path), lines, problems)
    raw = path.read_bytes() if not problems else b""
    result = PlanFile(
        str(path), hashlib.sha256(raw).hexdigest(), "", {}, [], [], reader.problems, reader.warnings
    )
    if not isinstance(data, dict):
        if not problems:
            reader.problem((), "FIELD_TYPE", "a plan file must be a mapping")
        return result
    header = _read_header(reader, data, registry)
    result.key = header.pop("id", "")
    budget = _budget(reader, data.get("budget"))
    result.header = prune({**header, "budget": budget})
    result.indicators = _defaults(_items(reader, data, "indicators", INDICATOR), header)
    result.tasks = _items(reader, data, "tasks", TASK)
    for index, indicator in enumerate(result.indicators):
        _check_indicator(reader, index, indicator, registry)
    for index, task in enumerate(result.tasks):
        _check_task(reader, index, task, registry)
    _check_parents(reader, result.indicators, "indicators", "number")
    _check_parents(reader, result.tasks, "tasks", "key")
    _check_same_as(reader, result.indicators)
    _check_budget_tasks(reader, budget, result.tasks)
    return result


def _defaults(indicators: list[dict[str, Any]], header: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows that name no lead (monitor) take the plan's ``default_lead``
    (``default_monitor``); groups name none."""
    for indicator in indicators:
        if indicator.get("group"):
            continue
        for name in ("lead", "monitor"):
            default = header.get(f"default_{name}")
            if default and not indicator.get(name):
                indicator[name] = list(default)
    return indicators


def _check_same_as(reader: Reader, indicators: list[dict[str, Any]]) -> None:
    """``same_as`` names another indicator of the plan, itself not a repeat."""
    by_number = {item.get("number"): item for item in indicators}
    for index, item in enumerate(indicators):
        same = item.get("same_as")
        if same is None:
            continue
        original = by_number.get(same)
        if original is None or same == item.get("number"):
            message = f"no other indicator {same!r} in the plan"
            reader.problem(("indicators", index, "same_as"), "UNKNOWN_ITEM", message)
        elif original.get("same_as") is not None or original.get("group") or item.get("group"):
            message = f"{same!r} is itself a repeat or a group: name the first printing"
            reader.problem(("indicators", index, "same_as"), "FIELD_TYPE", message)


def _check_budget_tasks(
    reader: Reader, budget: dict[str, Any] | None, tasks: list[dict[str, Any]]
) -> None:
    """A budget item's ``tasks`` are keys of the plan's tasks."""
    keys = {task.get("key") for task in tasks}
    for index, item in enumerate((budget or {}).get("items", [])):
        for key in item.get("tasks", []):
            if key not in keys:
                message = f"no task {key!r} in the plan"
                reader.problem(("budget", "items", index, "tasks"), "UNKNOWN_ITEM", message)

"""A periodic report of a plan (báo cáo định kỳ), as a structured document in
Vietnamese: a pure function of the views' rows as known at a log position and as of
a day, the plan's audit records up to that position, the agencies' names and the
signed checkpoint that covers the position — no clock, no I/O. The same inputs give
the same document, which the renderers (:mod:`services.reports.xlsx`,
:mod:`services.reports.pdf`) turn into the same bytes.

The sections follow the plans' own reports: the header (plan, ward, period, as of,
known at, the log it covers); I. the KPI table; II. the tasks by status; III. overdue
items and red flags with their reasons; IV. items "Chờ hoàn thiện"; V. open
obstacles (vướng mắc); VI. each unit's scorecard and the ranking; VII. who owes
reports (REPORT_MISSING, đôn đốc); VIII. the corrections made in the period.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from domain.clock import ward_day
from domain.flags import rule_title
from domain.items import ItemStatus
from domain.reporting import Period, period_name, vn_date
from projections.corrections import corrections
from projections.engine.rows import Row, Views
from projections.plans import is_overdue, items_of, plan_row
from projections.red_flags import missing_reports, raised_flags
from projections.scorecards import PART_TITLES as PARTS
from projections.scorecards import WEIGHTS, standings

Cell = str | int | float
STATUS_ORDER = (
    ItemStatus.NOT_STARTED,
    ItemStatus.IN_PROGRESS,
    ItemStatus.AWAITING_EVIDENCE,
    ItemStatus.SUBMITTED,
    ItemStatus.AWAITING_COMPLETION,
    ItemStatus.COMPLETED,
    ItemStatus.CANCELLED,
)
STANDINGS = {
    "met": "Đạt",
    "at_risk": "Gần đạt (≥ 80%)",
    "off_track": "Chưa đạt",
    "no_data": "Chưa có số liệu",
    "unjudgeable": "Không so sánh được",
}
CORRECTIONS = {
    "lienthong.task.ReportCorrected": "Đính chính báo cáo tiến độ",
    "lienthong.indicator.MeasurementCorrected": "Đính chính số liệu chỉ tiêu",
    "lienthong.task.DeadlineChanged": "Điều chỉnh thời hạn",
    "lienthong.indicator.DeadlineChanged": "Điều chỉnh thời hạn",
    "lienthong.task.Amended": "Sửa đổi nhiệm vụ",
    "lienthong.indicator.Amended": "Sửa đổi chỉ tiêu",
    "lienthong.plan.Amended": "Sửa đổi kế hoạch",
}
OBSTACLE_RAISED = ("lienthong.task.ObstacleRaised", "lienthong.indicator.ObstacleRaised")
NONE = "—"


@dataclass(frozen=True)
class Table:
    """One section: a heading and a table (``sheet``: its short name, ≤ 31 characters)."""

    sheet: str
    title: str
    columns: tuple[str, ...]
    widths: tuple[int, ...]  # in characters, as a spreadsheet's columns are measured
    rows: tuple[tuple[Cell, ...], ...]
    empty: str = "Không có."


@dataclass(frozen=True)
class Checkpoint:
    """The signed checkpoint of the log's tree that covers what a report read."""

    size: int
    root: str  # base64, as the signed note writes it


@dataclass(frozen=True)
class Basis:
    """What a report is built on: the views as known at ``position`` (everything
    recorded by ``known_at``; None: everything recorded when it was built) and as of
    ``day``; the checkpoint covering them, if one was kept."""

    views: Views
    day: dt.date
    position: int
    known_at: dt.datetime | None
    checkpoint: Checkpoint | None
    records: Sequence[Mapping[str, Any]]  # the plan's audit records up to ``position``
    names: Mapping[str, str]  # agency id → its Vietnamese name


@dataclass(frozen=True)
class Report:
    plan_id: str
    period: Period
    title: str
    subtitle: str
    header: tuple[tuple[str, str], ...]
    tables: tuple[Table, ...]
    as_of: dt.date
    position: int
    known_at: dt.datetime | None
    checkpoint: Checkpoint | None

    def filename(self, fmt: str) -> str:
        return f"bao-cao-{self.plan_id}-{self.period.label}.{fmt}"


def build_report(plan_id: str, period: Period, basis: Basis) -> Report:
    """The report of ``plan_id`` for ``period`` from ``basis`` (see the module)."""
    views, day = basis.views, basis.day
    plan = plan_row(views, plan_id)
    header = plan["header"]
    items = [(name, row) for name, row in items_of(views, plan) if not row["group"]]
    tasks = [(name, row) for name, row in items if "/task/" in name]
    indicators = [(name, row) for name, row in items if "/indicator/" in name]

    def unit(agency: str) -> str:
        return basis.names.get(agency, agency)

    def units(agencies: Sequence[str]) -> str:
        return "; ".join(unit(a) for a in agencies) or NONE

    flags = raised_flags(views, [name for name, _ in items], day, include_cleared=False)
    text = {name: item_text(row) for name, row in items}
    tables = (
        kpi_table(indicators, period, units),
        task_table(tasks, flags, units),
        overdue_table(tasks, day, units),
        flag_table(flags, text, units),
        awaiting_table(items, units),
        obstacle_table(items, basis.records, text, unit),
        score_table(views, plan_id, day, unit),
        missing_table(views, plan_id, day, text, units),
        correction_table(basis.records, period, text, unit),
    )
    return Report(
        plan_id=plan_id,
        period=period,
        title=f"BÁO CÁO KẾT QUẢ THỰC HIỆN KẾ HOẠCH SỐ {header['number']}",
        subtitle=f"{period_name(period)} — phường {header['ward']}",
        header=header_lines(plan_id, header, period, basis, unit),
        tables=tables,
        as_of=day,
        position=basis.position,
        known_at=basis.known_at,
        checkpoint=basis.checkpoint,
    )


def header_lines(
    plan_id: str, header: Row, period: Period, basis: Basis, unit: Any
) -> tuple[tuple[str, str], ...]:
    known = (
        f"{basis.known_at.astimezone(dt.UTC).isoformat()} (giờ UTC)"
        if basis.known_at is not None
        else "mọi dữ liệu đã ghi nhận khi lập báo cáo"
    )
    kept = basis.checkpoint
    checkpoint = (
        f"cây Merkle {kept.size} bản ghi, gốc {kept.root} (điểm kiểm tra đã ký bao phủ dữ liệu)"
        if kept is not None
        else f"chưa có điểm kiểm tra đã ký bao phủ; vị trí nhật ký {basis.position}"
    )
    return (
        ("Kế hoạch", f"Số {header['number']} ({plan_id})"),
        ("Trích yếu", str(header.get("title") or NONE)),
        ("Phường", f"{header['ward']}, {header.get('province') or ''}".rstrip(", ")),
        ("Cơ quan thường trực", unit(header.get("coordinator") or "") or NONE),
        (
            "Kỳ báo cáo",
            (
                f"{period_name(period)} ({period.label}: {vn_date(period.first)} – "
                f"{vn_date(period.last)})"
            ),
        ),
        ("Số liệu tính đến ngày", vn_date(basis.day)),
        ("Dữ liệu ghi nhận đến", known),
        ("Vị trí nhật ký", str(basis.position)),
        ("Điểm kiểm tra của nhật ký", checkpoint),
    )


def item_text(row: Row) -> str:
    return str(row.get("text") or row.get("title") or "")


FIELDS = {
    "percent": "tiến độ (%)",
    "deadline": "thời hạn",
    "value": "giá trị",
    "unit": "đơn vị tính",
}


def short(name: str) -> str:
    """An item within its plan, in words: "Nhiệm vụ 3", "Chỉ tiêu 7" (the plan: "Kế hoạch")."""
    if "/" not in name:
        return "Kế hoạch"
    kind, _, key = name.split("/", 1)[1].partition("/")
    return f"{'Nhiệm vụ' if kind == 'task' else 'Chỉ tiêu'} {key}"


def number_of(name: str, row: Row) -> str:
    kind = "Nhiệm vụ" if "/task/" in name else "Chỉ tiêu"
    return f"{kind} {row.get('number') or name.rsplit('/', 1)[-1]}"


def target_for(row: Row, period: Period) -> tuple[str, Row | None]:
    """The target the period is judged against: its year's, else the next milestone."""
    periods: dict[str, Row] = row["periods"]
    year = str(period.first.year)
    if year in periods:
        return year, periods[year]
    later = sorted(p for p in periods if p[:4] >= year)
    return (later[0], periods[later[0]]) if later else ("", None)


def kpi_table(indicators: list[tuple[str, Row]], period: Period, units: Any) -> Table:
    rows: list[tuple[Cell, ...]] = []
    for _, row in indicators:
        label, target = target_for(row, period)
        value = target["value"] if target else None
        measured = f"{value} ({target['measured_period']})" if target and value else NONE
        rows.append(
            (
                str(row["number"]),
                item_text(row),
                str(row["unit"] or ""),
                f"{target['target']} ({label})" if target else NONE,
                measured,
                str(STANDINGS.get(target["standing"], target["standing"])) if target else NONE,
                ItemStatus(row["status"]).label_vi,
                units(row["lead"]),
            )
        )
    return Table(
        "I. Chỉ tiêu",
        "I. KẾT QUẢ THỰC HIỆN CÁC CHỈ TIÊU",
        (
            "Số",
            "Chỉ tiêu",
            "Đơn vị tính",
            "Chỉ tiêu của kỳ",
            "Giá trị mới nhất (kỳ đo)",
            "Đánh giá",
            "Trạng thái",
            "Đơn vị chủ trì",
        ),
        (8, 60, 12, 18, 20, 18, 16, 36),
        tuple(rows),
    )


def task_table(
    tasks: list[tuple[str, Row]], flags: list[tuple[str, list[str], Any]], units: Any
) -> Table:
    flagged: dict[str, list[str]] = {}
    for name, _, span in flags:
        flagged.setdefault(name, []).append(rule_title(span.rule))
    order = {status.value: i for i, status in enumerate(STATUS_ORDER)}
    ranked = sorted(enumerate(tasks), key=lambda t: (order[t[1][1]["status"]], t[0]))
    rows = [
        (
            ItemStatus(row["status"]).label_vi,
            str(row["number"]),
            item_text(row),
            units(row["lead"]),
            units(row["coordinating"]) if row["coordinating"] else NONE,
            str(row["deadline"] or NONE),
            row["percent"],
            "; ".join(sorted(set(flagged.get(name, [])))) or NONE,
        )
        for _, (name, row) in ranked
    ]
    return Table(
        "II. Nhiệm vụ",
        "II. TÌNH HÌNH THỰC HIỆN NHIỆM VỤ (THEO TRẠNG THÁI)",
        (
            "Trạng thái",
            "Số",
            "Nhiệm vụ",
            "Đơn vị chủ trì",
            "Đơn vị phối hợp",
            "Thời hạn",
            "Tiến độ (%)",
            "Cờ đỏ",
        ),
        (18, 8, 60, 32, 32, 20, 10, 30),
        tuple(rows),
    )


def overdue_table(tasks: list[tuple[str, Row]], day: dt.date, units: Any) -> Table:
    rows = [
        (
            number_of(name, row),
            item_text(row),
            units(row["lead"]),
            str(row["deadline"] or NONE),
            vn_date(dt.date.fromisoformat(row["due"])),
            row["percent"],
            ItemStatus(row["status"]).label_vi,
        )
        for name, row in tasks
        if is_overdue(row, day)
    ]
    return Table(
        "III.1 Quá hạn",
        "III.1. NHIỆM VỤ QUÁ HẠN",
        ("Mục", "Nội dung", "Đơn vị chủ trì", "Thời hạn", "Hạn cuối", "Tiến độ (%)", "Trạng thái"),
        (16, 60, 32, 20, 12, 10, 18),
        tuple(rows),
    )


def flag_table(
    flags: list[tuple[str, list[str], Any]], text: Mapping[str, str], units: Any
) -> Table:
    rows = [
        (
            short(name),
            text.get(name, ""),
            units(lead),
            rule_title(span.rule),
            f"{span.rule} v{span.version}",
            span.period or NONE,
            vn_date(span.raised_on),
            span.message,
        )
        for name, lead, span in flags
        if span.rule != "REPORT_MISSING"  # the reports owed have a section of their own
    ]
    return Table(
        "III.2 Cờ đỏ",
        "III.2. CỜ ĐỎ VÀ LÝ DO",
        ("Mục", "Nội dung", "Đơn vị chủ trì", "Cờ đỏ", "Mã quy tắc", "Kỳ", "Từ ngày", "Lý do"),
        (16, 50, 32, 30, 20, 10, 12, 50),
        tuple(rows),
    )


def awaiting_table(items: list[tuple[str, Row]], units: Any) -> Table:
    rows = []
    for name, row in items:
        if row["status"] != ItemStatus.AWAITING_COMPLETION.value:
            continue
        rejected = [
            e["description"] or e["uri"]
            for e in row["evidence_items"]
            if e["verdict"] == "rejected"
        ]
        rows.append(
            (
                number_of(name, row),
                item_text(row),
                units(row["lead"]),
                "; ".join(rejected) or NONE,
            )
        )
    return Table(
        "IV. Chờ hoàn thiện",
        "IV. CÁC NỘI DUNG “CHỜ HOÀN THIỆN” (MINH CHỨNG KHÔNG ĐẠT)",
        ("Mục", "Nội dung", "Đơn vị chủ trì", "Minh chứng bị từ chối"),
        (16, 60, 32, 50),
        tuple(rows),
    )


def obstacle_table(
    items: list[tuple[str, Row]],
    records: Sequence[Mapping[str, Any]],
    text: Mapping[str, str],
    unit: Any,
) -> Table:
    raised = {
        (record["subject"], record["body"].get("obstacle_id")): record
        for record in records
        if record["topic"] in OBSTACLE_RAISED
    }
    rows = []
    for name, row in items:
        for obstacle in row["open_obstacles"]:
            record = raised.get((name, obstacle))
            body = record["body"] if record else {}
            rows.append(
                (
                    number_of(name, row),
                    text.get(name, ""),
                    obstacle,
                    str(body.get("description") or NONE),
                    unit(record["actor"]) if record else NONE,
                    vn_date(ward_day(record["occurred_at"])) if record else NONE,
                )
            )
    return Table(
        "V. Vướng mắc",
        "V. KHÓ KHĂN, VƯỚNG MẮC CHƯA ĐƯỢC GIẢI QUYẾT",
        ("Mục", "Nội dung", "Mã vướng mắc", "Mô tả", "Đơn vị nêu", "Ngày nêu"),
        (16, 50, 16, 50, 32, 12),
        tuple(rows),
    )


def score_table(views: Views, plan_id: str, day: dt.date, unit: Any) -> Table:
    ranked, collectives = standings(views, {plan_id}, day)

    def part(card: Row, key: str) -> str:
        found = card["parts"][key]
        return f"{found['count']}/{found['of']}" if found["of"] else NONE

    rows = [
        (
            str(rank) if rank else "—",
            unit(card["agency"]),
            card["score"],
            *(part(card, key) for key in PARTS),
            card["tasks"],
            card["indicators"],
            card["open_obstacles"],
        )
        for rank, card in [*enumerate(ranked, 1), *((0, c) for c in collectives)]
    ]
    return Table(
        "VI. Xếp hạng",
        "VI. CHẤM ĐIỂM VÀ XẾP HẠNG CÁC ĐƠN VỊ",
        (
            "Hạng",
            "Đơn vị",
            "Điểm (0–100)",
            *(f"{label} ({round(WEIGHTS[part] * 100)}%)" for part, label in PARTS.items()),
            "Nhiệm vụ",
            "Chỉ tiêu",
            "Vướng mắc",
        ),
        (8, 40, 12, 14, 16, 14, 14, 10, 10, 10),
        tuple(rows),
        empty="Chưa có đơn vị nào được chấm điểm.",
    )


def missing_table(
    views: Views, plan_id: str, day: dt.date, text: Mapping[str, str], units: Any
) -> Table:
    rows = [
        (
            units(found["units"]),
            short(found["item"]),
            text.get(found["item"], ""),
            found["period"],
            vn_date(dt.date.fromisoformat(found["due"])),
        )
        for found in missing_reports(views, day, plans={plan_id})
    ]
    return Table(
        "VII. Chưa báo cáo",
        "VII. ĐƠN VỊ CHƯA GỬI BÁO CÁO (ĐÔN ĐỐC — REPORT_MISSING)",
        ("Đơn vị", "Mục", "Nội dung", "Kỳ", "Hạn báo cáo"),
        (40, 16, 50, 10, 12),
        tuple(rows),
        empty="Không có đơn vị nào nợ báo cáo.",
    )


def correction_table(
    records: Sequence[Mapping[str, Any]], period: Period, text: Mapping[str, str], unit: Any
) -> Table:
    """The corrections made in the period: the ward's day of their ``occurred_at``
    falls in it (recorded up to the report's position), with what each replaced."""
    histories: dict[str, list[Mapping[str, Any]]] = {}
    for record in records:
        histories.setdefault(record["subject"], []).append(record)
    found = sorted(
        (
            correction
            for history in histories.values()
            for correction in corrections(history)  # type: ignore[arg-type]
            if ward_day(correction["occurred_at"]) in period
        ),
        key=lambda c: c["position"],
    )
    rows = [
        (
            c["position"],
            vn_date(ward_day(c["occurred_at"])),
            short(c["subject"]),
            text.get(c["subject"], ""),
            str(CORRECTIONS.get(c["topic"], c["topic"])),
            "; ".join(
                f"{FIELDS.get(field, field)}: {was or '∅'} → {now or '∅'}"
                for field, was, now in c["changes"]
            ),
            "; ".join(x for x in (c["reason"], c["document"]) if x) or NONE,
            unit(c["actor"]),
        )
        for c in found
    ]
    return Table(
        "VIII. Đính chính",
        "VIII. ĐÍNH CHÍNH, ĐIỀU CHỈNH GHI NHẬN TRONG KỲ",
        ("Vị trí", "Ngày", "Mục", "Nội dung", "Loại", "Thay đổi", "Lý do, văn bản", "Đơn vị"),
        (8, 12, 14, 40, 24, 30, 40, 32),
        tuple(rows),
    )

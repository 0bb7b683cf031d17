"""The demo: import the four ward plans and play a scripted first quarter of 2026.

Every step goes through the application layer as an agency system would send it:
progress reports, KPI measurements, evidence accepted and rejected, an obstacle, a
deadline change, a correction, a dependency (and a refused cycle). Each step has a
fixed message id, so running the demo again finds the quarter already played.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from domain.errors import DomainError
from domain.items import ItemStatus
from services.app import Actor, Lienthong
from services.importer import VIETNAM, import_plans

SCRIPT_ID = "demo-2026q1"
REPORT_DAY = dt.date(2026, 4, 1)  # the morning after the quarter
PB = "phuoc-binh-2026"
DM = "da-mai-2026"
BP = "binh-phuoc-2026"
BL = "binh-long-2026"


def sha(name: str) -> str:
    """A stand-in digest for a scanned document of the script."""
    return hashlib.sha256(name.encode()).hexdigest()


@dataclass(frozen=True)
class Step:
    day: str
    agency: str
    command: str
    target: str
    args: dict[str, Any] = field(default_factory=dict)
    expect_refusal: str = ""
    evidence: tuple[dict[str, str], ...] = ()


def evidence(name: str, description: str) -> dict[str, str]:
    return {
        "sha256": sha(name),
        "uri": f"https://evidence.example.vn/{name}",
        "media_type": "application/pdf",
        "description": description,
    }


# fmt: off
SCRIPT: tuple[Step, ...] = (
    # Phước Bình: VHXH issues the head-of-agency responsibility rules (task 3) on time.
    Step("2026-01-20", "phuoc-binh.vhxh", "progress_reported", f"{PB}/task/3", {"percent": 50, "note": "Dự thảo quy định đã trình"}),
    Step("2026-02-27", "phuoc-binh.vhxh", "evidence_submitted", f"{PB}/task/3", evidence=(evidence("pb-qd-12.pdf", "Quyết định số 12/QĐ-UBND đã ký"),)),
    Step("2026-02-27", "phuoc-binh.vhxh", "completion_claimed", f"{PB}/task/3", {"evidence": [sha("pb-qd-12.pdf")], "note": "Đã ban hành"}),
    Step("2026-03-02", "phuoc-binh.vhxh", "evidence_accepted", f"{PB}/task/3", {"sha256": sha("pb-qd-12.pdf"), "quality": "good"}),
    Step("2026-03-02", "phuoc-binh.vhxh", "completion_confirmed", f"{PB}/task/3", {"note": "Minh chứng hợp lệ"}),
    # The service centre claims task 8 with an unsigned scan: rejected, "Chờ hoàn thiện".
    Step("2026-02-10", "phuoc-binh.ttpvhcc", "progress_reported", f"{PB}/task/8", {"percent": 70}),
    Step("2026-03-05", "phuoc-binh.ttpvhcc", "evidence_submitted", f"{PB}/task/8", evidence=(evidence("pb-hd-quy-trinh.pdf", "Văn bản hướng dẫn số hóa quy trình"),)),
    Step("2026-03-05", "phuoc-binh.ttpvhcc", "completion_claimed", f"{PB}/task/8", {"evidence": [sha("pb-hd-quy-trinh.pdf")]}),
    Step("2026-03-09", "phuoc-binh.vhxh", "evidence_rejected", f"{PB}/task/8", {"sha256": sha("pb-hd-quy-trinh.pdf"), "reason": "Văn bản chưa ký, chưa đóng dấu"}),
    # The health post links e-health records with VNeID (task 24), helped by the police.
    Step("2026-02-10", "phuoc-binh.health-post", "progress_reported", f"{PB}/task/24", {"percent": 30, "note": "60% hồ sơ đã chuẩn hóa"}),
    Step("2026-02-15", "phuoc-binh.police", "contribution_reported", f"{PB}/task/24", {"percent": 50, "note": "Đối soát dữ liệu dân cư"}),
    Step("2026-03-12", "phuoc-binh.health-post", "obstacle_raised", f"{PB}/task/24", {"obstacle_id": "vneid-api", "kind": "blocker", "description": "Chưa được cấp quyền kết nối VNeID"}),
    Step("2026-03-14", "phuoc-binh.police", "progress_reported", f"{PB}/task/24", {"percent": 40}, expect_refusal="NOT_LEAD_UNIT"),
    # The service centre over-reports task 23 and corrects it.
    Step("2026-01-31", "phuoc-binh.ttpvhcc", "progress_reported", f"{PB}/task/23", {"percent": 20}),
    Step("2026-02-28", "phuoc-binh.ttpvhcc", "progress_reported", f"{PB}/task/23", {"percent": 35}),
    Step("2026-03-01", "phuoc-binh.ttpvhcc", "progress_reported", f"{PB}/task/23", {"percent": 25}, expect_refusal="PROGRESS_DECREASE_NEEDS_CORRECTION"),
    Step("2026-03-01", "phuoc-binh.ttpvhcc", "report_corrected", f"{PB}/task/23", {"report_version": 3, "percent": 25, "reason": "Nhập nhầm số hồ sơ tháng 2"}),
    # Tasks 4 and 5 fall behind; the office moves task 5 to the second quarter.
    Step("2026-03-20", "phuoc-binh.vhxh", "progress_reported", f"{PB}/task/4", {"percent": 80}),
    Step("2026-03-20", "phuoc-binh.vhxh", "progress_reported", f"{PB}/task/5", {"percent": 40}),
    Step("2026-03-25", "phuoc-binh.vhxh", "deadline_changed", f"{PB}/task/5", {"deadline": "Quý II/2026", "reason": "Chờ Kế hoạch của UBND tỉnh", "document": "Công văn số 45/UBND-VHXH ngày 25/3/2026"}),
    # Dependencies: health records wait on digital identities; a cycle is refused.
    Step("2026-03-10", "phuoc-binh.vhxh", "dependency_declared", PB, {"upstream": "21", "downstream": "24", "reason": "Sổ sức khỏe cần danh tính số"}),
    Step("2026-03-10", "phuoc-binh.vhxh", "dependency_declared", PB, {"upstream": "24", "downstream": "21", "reason": "thử"}, expect_refusal="DEPENDENCY_CYCLE"),
    # KPI measurements.
    Step("2026-03-31", "phuoc-binh.ttpvhcc", "indicator_measured", f"{PB}/indicator/3.1", {"value": "62", "unit": "%", "period": "2026-Q1"}),
    Step("2026-03-31", "phuoc-binh.health-post", "indicator_measured", f"{PB}/indicator/7", {"value": "71,5", "unit": "%", "period": "2026-Q1"}),
    Step("2026-03-31", "phuoc-binh.health-post", "indicator_measured", f"{PB}/indicator/7", {"value": "3", "unit": "Thứ bậc", "period": "2026-Q1"}, expect_refusal="UNIT_MISMATCH"),
    # Đa Mai: the People's Committee issues its implementing plan before 15/02/2026.
    Step("2026-02-12", "da-mai.ubnd", "progress_reported", f"{DM}/task/IV.5", {"percent": 100}),
    Step("2026-02-12", "da-mai.ubnd", "evidence_submitted", f"{DM}/task/IV.5", evidence=(evidence("dm-kh-21.pdf", "Kế hoạch số 21/KH-UBND đã ký"),)),
    Step("2026-02-12", "da-mai.ubnd", "completion_claimed", f"{DM}/task/IV.5", {"evidence": [sha("dm-kh-21.pdf")]}),
    Step("2026-02-13", "da-mai.ubnd", "evidence_accepted", f"{DM}/task/IV.5", {"sha256": sha("dm-kh-21.pdf"), "quality": "adequate"}),
    Step("2026-02-13", "da-mai.ubnd", "completion_confirmed", f"{DM}/task/IV.5"),
    Step("2026-03-15", "da-mai.ubnd", "progress_reported", f"{DM}/task/6", {"percent": 50}),
    Step("2026-03-31", "da-mai.ubnd", "indicator_measured", f"{DM}/indicator/E.11", {"value": "58", "unit": "%", "period": "2026-Q1"}),
    # Bình Phước and Bình Long: VNeID rates.
    Step("2026-03-31", "binh-phuoc.party-office", "indicator_measured", f"{BP}/indicator/1.4.16", {"value": "76", "unit": "%", "period": "2026-Q1"}),
    Step("2026-03-31", "binh-long.party-office", "indicator_measured", f"{BL}/indicator/1.1.6", {"value": "61", "unit": "%", "period": "2026-Q1"}),
    Step("2026-03-18", "binh-long.party-office", "progress_reported", f"{BL}/task/III.3.a", {"percent": 60}),
)
# fmt: on


def run_step(app: Lienthong, step: Step, index: int) -> str:
    """Apply one step; returns a line describing the outcome."""
    day = dt.date.fromisoformat(step.day)
    actor = Actor(
        agency=step.agency,
        channel="demo",
        message_id=f"{SCRIPT_ID}:{index:02d}",
        occurred_at=dt.datetime.combine(day, dt.time(9), VIETNAM),
    )
    args = dict(step.args)
    if step.command in ("progress_reported", "contribution_reported", "indicator_measured"):
        args["as_of"] = day
    try:
        app.execute(step.command, step.target, actor, args, step.evidence)
    except DomainError as error:
        if error.code != step.expect_refusal:
            raise
        return (
            f"  {step.day} {step.agency:<28} {step.command} {step.target}: refused {error.code} ✓"
        )
    if step.expect_refusal:
        msg = f"step {index} should have been refused with {step.expect_refusal}"
        raise AssertionError(msg)
    return f"  {step.day} {step.agency:<28} {step.command} {step.target}"


def already_played(app: Lienthong) -> bool:
    return any(e["message_id"] == f"{SCRIPT_ID}:00" for e in app.events_of(SCRIPT[0].target))


def play(app: Lienthong, plans_dir: Path, registry: Path, out: Callable[[str], None]) -> None:
    out(f"Importing the plans in {plans_dir} …")
    report = import_plans(
        app, sorted(plans_dir.glob("*.yaml")), registry, progress=lambda m: out(f"  {m}")
    )
    out(f"  {report.events} event(s) recorded, {report.agencies_registered} agencies registered")
    if already_played(app):
        out("The scripted quarter was already played in this store.")
    else:
        out(f"Playing the scripted quarter ({len(SCRIPT)} steps) …")
        for index, step in enumerate(SCRIPT):
            out(run_step(app, step, index))
    for key in app.plan_keys():
        for line in render_status(app.plan_status(key, REPORT_DAY)):
            out(line)


def render_status(status: dict[str, Any]) -> Iterator[str]:
    yield ""
    yield f"{status['ward']} — Kế hoạch {status['number']} ({status['plan_id']}), as of {status['as_of']}"
    counts = " · ".join(
        f"{ItemStatus(name).label_vi} {n}" for name, n in status["by_status"].items() if n
    )
    yield f"  {status['items']} items: {counts}"
    yield f"  Chờ hoàn thiện: {', '.join(status['awaiting_completion']) or '—'}"
    late = [
        f"{o['item']} ({', '.join(o['lead'])}; {o['deadline']}; {o['percent']}%)"
        for o in status["overdue"]
    ]
    yield f"  overdue: {'; '.join(late) or '—'}"
    yield f"  open obstacles: {status['open_obstacles']}"
    if status["dependencies"]:
        deps = ", ".join(f"task {down} waits on task {up}" for up, down in status["dependencies"])
        yield f"  dependencies: {deps}"

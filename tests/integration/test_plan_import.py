"""Importing the four ward plans into a real PostgreSQL: counts, round trips,
idempotence, amendments, and all-or-nothing refusal of bad files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from domain.ids import task_id
from projections.plans import plan_summary
from projections.views import PLAN_VIEWS, caught_up
from services.app.importer import ImportFailedError, import_plans
from services.app.ledger import Actor, Ledger
from services.app.planfile import read_plan, read_registry
from tests.commands import execute
from tests.conftest import PLANS, REGISTRY


def total_events(app: Ledger) -> int:
    return app.recorder.max_notification_id() or 0


def imported(app: Ledger) -> Ledger:
    import_plans(app, PLANS, REGISTRY)
    return app


def test_the_four_plans_keep_the_counts_and_numbering_of_the_source_documents(
    app: Ledger,
) -> None:
    imported(app)
    views = caught_up(app, PLAN_VIEWS)
    summaries = {key: plan_summary(views, plan) for key, plan in views["plans"].items()}
    assert set(summaries) == {"binh-phuoc-2026", "phuoc-binh-2026", "da-mai-2026", "binh-long-2026"}
    phuoc_binh = summaries["phuoc-binh-2026"]
    assert (phuoc_binh["tasks"], phuoc_binh["indicators"], phuoc_binh["indicators_top_level"]) == (
        32,
        25,
        15,
    )
    da_mai = summaries["da-mai-2026"]
    assert (da_mai["tasks"], da_mai["task_sub_items"], da_mai["indicators"]) == (24, 6, 26)


def test_plan_001_numbers_its_tasks_1_to_33_with_6_twice_and_no_14_or_15(app: Ledger) -> None:
    imported(app)
    numbers = [task["number"] for task in app.plan_document("phuoc-binh-2026")["tasks"]]
    assert numbers.count("6") == 2
    assert "14" not in numbers
    assert "15" not in numbers
    assert sorted(set(numbers), key=int) == [str(n) for n in range(1, 34) if n not in (14, 15)]


def test_plan_001_kpi_3_groups_sub_kpis_3_1_to_3_10(app: Ledger) -> None:
    imported(app)
    indicators = app.plan_document("phuoc-binh-2026")["indicators"]
    children = [i["number"] for i in indicators if i.get("parent") == "3"]
    assert children == [f"3.{n}" for n in range(1, 11)]


def test_plan_002_task_18_has_sub_items_a_b_c_d_dd_e(app: Ledger) -> None:
    imported(app)
    tasks = app.plan_document("da-mai-2026")["tasks"]
    assert [t["number"] for t in tasks if t.get("parent") == "18"] == ["a", "b", "c", "d", "đ", "e"]


@pytest.mark.parametrize("path", PLANS, ids=lambda p: p.stem)
def test_each_plan_file_reads_back_from_the_store_equal_to_the_file(
    app: Ledger, path: Path
) -> None:
    imported(app)
    expected = read_plan(path, read_registry(REGISTRY))
    document = expected.document()
    if expected.header.get("budget"):
        document["budget"] = document["plan"].pop("budget")
    assert app.plan_document(expected.key) == document


def test_importing_the_same_files_twice_changes_nothing(app: Ledger) -> None:
    imported(app)
    before = total_events(app)
    report = import_plans(app, PLANS, REGISTRY)
    assert report.events == 0
    assert total_events(app) == before
    assert {plan["action"] for plan in report.plans} == {"unchanged"}


def edited_copy(source: Path, tmp_path: Path, edit: dict[str, str]) -> Path:
    text = source.read_text(encoding="utf-8")
    for old, new in edit.items():
        assert old in text, old
        text = text.replace(old, new, 1)
    target = tmp_path / source.name
    target.write_text(text, encoding="utf-8")
    return target


def rewritten(source: Path, tmp_path: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    document = yaml.safe_load(source.read_text(encoding="utf-8"))
    change(document)
    target = tmp_path / source.name
    target.write_text(
        yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8"
    )
    return target


def test_an_edited_plan_file_records_amendments_not_a_new_plan(app: Ledger, tmp_path: Path) -> None:
    imported(app)

    def postpone_task_3(document: dict[str, Any]) -> None:
        task = next(t for t in document["tasks"] if t["key"] == "3")
        task["deadline"] = "Quý II/2026"
        task["expected_result"] = "Văn bản quy định"

    edited = rewritten(
        next(p for p in PLANS if p.name.startswith("001")), tmp_path, postpone_task_3
    )
    report = import_plans(app, [edited], REGISTRY, reason="Điều chỉnh sau rà soát quý I")
    assert report.plans[0]["action"] == "amended"
    assert app.plan_keys().count("phuoc-binh-2026") == 1
    history = [e["topic"] for e in app.events_of("phuoc-binh-2026/task/3")]
    assert history == ["lienthong.task.Assigned", "lienthong.task.Amended"]
    assert [e["topic"] for e in app.events_of("phuoc-binh-2026")] == ["lienthong.plan.Issued"]
    task = next(t for t in app.plan_document("phuoc-binh-2026")["tasks"] if t["key"] == "3")
    assert (task["deadline"], task["expected_result"]) == ("Quý II/2026", "Văn bản quy định")


def test_a_task_removed_from_the_file_is_cancelled_and_a_new_one_assigned(
    app: Ledger, tmp_path: Path
) -> None:
    imported(app)
    removed: dict[str, Any] = {}

    def move_task_1_to_25(document: dict[str, Any]) -> None:
        removed.update(document["tasks"].pop(0))
        document["tasks"].append({**removed, "key": "25", "number": "25"})

    import_plans(
        app,
        [
            rewritten(
                next(p for p in PLANS if p.name.startswith("002")), tmp_path, move_task_1_to_25
            )
        ],
        REGISTRY,
    )
    assert app.item_status(f"da-mai-2026/task/{removed['key']}")["status"] == "cancelled"
    assert app.item_status("da-mai-2026/task/25")["status"] == "not_started"
    assert app.exists(task_id("da-mai-2026", "25"))


def test_a_plan_file_with_errors_lists_every_one_and_stores_nothing(
    app: Ledger, tmp_path: Path
) -> None:
    source = next(p for p in PLANS if p.name.startswith("001"))
    broken = edited_copy(
        source,
        tmp_path,
        {
            "lead: [phuoc-binh.citizens-enterprises]": "lead: [phuoc-binh.nobody]",
            '"Quý I/2026"': '"Quý V/2026"',
            "year: 2026": "year: twenty",
            "code: EHEALTH_RECORD": "code: vneid-rate",
        },
    )
    good = next(p for p in PLANS if p.name.startswith("002"))
    with pytest.raises(ImportFailedError) as failed:
        import_plans(app, [good, broken], REGISTRY)
    codes = {(Path(p.file).name, p.code) for p in failed.value.problems}
    assert {
        (broken.name, "UNKNOWN_AGENCY"),
        (broken.name, "DEADLINE_UNRECOGNISED"),
        (broken.name, "FIELD_TYPE"),
    } <= codes
    assert any(p.field.endswith(".code") for p in failed.value.problems)
    assert all(p.line > 1 for p in failed.value.problems)
    assert total_events(app) == 0


def test_problems_name_the_line_and_field_of_the_mistake(tmp_path: Path) -> None:
    source = next(p for p in PLANS if p.name.startswith("002"))
    lines = source.read_text(encoding="utf-8").splitlines()
    target_line = next(i for i, line in enumerate(lines) if "Quý III/2026" in line)
    lines[target_line] = lines[target_line].replace("Quý III/2026", "Quý 7/2026")
    broken = tmp_path / "broken.yaml"
    broken.write_text("\n".join(lines), encoding="utf-8")
    problems = read_plan(broken, read_registry(REGISTRY)).problems
    assert [(p.line, p.code) for p in problems] == [(target_line + 1, "DEADLINE_UNRECOGNISED")]
    assert problems[0].field.endswith(".deadline")
    assert problems[0].field.startswith("tasks[")


@pytest.mark.parametrize("field", ["coordinator", "steering_committee"])
def test_a_plan_reviewed_or_coordinated_by_a_collective_is_refused(
    field: str, tmp_path: Path
) -> None:
    source = next(p for p in PLANS if p.name.startswith("001"))
    named = {
        "coordinator": "phuoc-binh.vhxh",
        "steering_committee": "phuoc-binh.steering-committee",
    }
    broken = edited_copy(
        source, tmp_path, {f"{field}: {named[field]}": f"{field}: phuoc-binh.all-agencies"}
    )
    problems = read_plan(broken, read_registry(REGISTRY)).problems
    assert [(p.code, p.field) for p in problems] == [("COLLECTIVE_CANNOT_ACT", f"plan.{field}")]


def test_reimporting_an_unchanged_file_keeps_a_deadline_the_office_moved(app: Ledger) -> None:
    imported(app)
    office = Actor(agency="phuoc-binh.vhxh", channel="test")
    change = {"deadline": "Quý II/2026", "reason": "Chờ tỉnh", "document": "CV 45"}
    execute(app, "deadline_changed", "phuoc-binh-2026/task/5", office, change)
    report = import_plans(app, PLANS, REGISTRY)
    assert report.events == 0
    assert app.item_status("phuoc-binh-2026/task/5")["deadline"]["text"] == "Quý II/2026"

"""The ``lienthong`` command line against a real PostgreSQL (named by
``LIENTHONG_DATABASE_URL``, as an operator would)."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from domain.messages import vietnamese
from projections.views import VIEWS
from services.app.ledger import Actor, Ledger
from services.cli import main
from services.store.database import DATABASE_URL_ENV, Database
from tests.commands import execute
from tests.conftest import PLANS, REGISTRY


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_plans_list_json_reports_each_plan_with_its_counts(
    configured: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "plans", "import", *map(str, PLANS), "--agencies", str(REGISTRY))
    assert code == 0, err
    assert "recording" in err  # progress is shown
    code, out, _ = run(capsys, "plans", "list", "--format", "json")
    assert code == 0
    plans = {p["plan_id"]: p for p in map(json.loads, out.splitlines())}
    assert len(plans) == 4
    assert {k: plans["phuoc-binh-2026"][k] for k in ("ward", "number", "indicators", "tasks")} == {
        "ward": "Phước Bình",
        "number": "09/KH-UBND",
        "indicators": 25,
        "tasks": 32,
    }
    assert (plans["da-mai-2026"]["tasks"], plans["da-mai-2026"]["task_sub_items"]) == (24, 6)


def test_importing_a_bad_file_exits_2_and_prints_every_problem(
    configured: Database, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "format: lienthong.plan/v1\nplan:\n  id: Not A Slug\ntasks: 3\n", encoding="utf-8"
    )
    code, out, err = run(
        capsys, "plans", "import", str(bad), "--agencies", str(REGISTRY), "--format", "json"
    )
    assert code == 2
    result = json.loads(out)
    assert result["stored"] is False
    fields = {p["field"] for p in result["problems"]}
    assert {"plan.id", "plan.ward", "plan.coordinator", "tasks"} <= fields
    # each problem line: CODE: the Vietnamese sentence — the detail
    assert f"{bad}:3: plan.id: FIELD_TYPE: {vietnamese('FIELD_TYPE')} — " in err
    code, out, _ = run(capsys, "plans", "list", "--format", "json")
    assert (code, out) == (0, "")


def test_a_malformed_database_url_is_a_clear_configuration_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(DATABASE_URL_ENV, "mysql://somewhere/db")
    code, _, err = run(capsys, "plans", "list")
    assert code == 2
    assert "CONFIGURATION" in err


def test_the_demo_plays_its_quarter_once_and_prints_the_status(
    configured: Database,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The demo's throwaway authority goes to a folder of this test's own.
    monkeypatch.setenv("LIENTHONG_PKI_DIR", str(tmp_path / "pki"))
    monkeypatch.delenv("LIENTHONG_TRUST_ANCHORS", raising=False)
    monkeypatch.setenv("LIENTHONG_LOG_KEY_FILE", str(tmp_path / "log-signing.key"))
    monkeypatch.setenv("LIENTHONG_REPORTS_DIR", str(tmp_path / "reports"))
    code, out, _ = run(capsys, "demo")
    assert code == 0
    assert "Chờ hoàn thiện: task/8" in out
    # It ends with the quarter's report of each seed plan, as XLSX and PDF, and where.
    written = sorted(p.name for p in (tmp_path / "reports").iterdir())
    assert written == sorted(
        f"bao-cao-{plan}-2026-Q1.{fmt}"
        for plan in ("binh-long-2026", "binh-phuoc-2026", "da-mai-2026", "phuoc-binh-2026")
        for fmt in ("xlsx", "pdf")
    )
    assert f"into {tmp_path / 'reports'}" in out
    assert "refused DEPENDENCY_CYCLE" in out
    # It ends as an auditor would: a checkpoint, and the store verified against it.
    assert "\n  lienthong.local/log\n" in out
    assert "every leaf recomputed" in out
    assert "make dashboard` → http://127.0.0.1:8057/" in out
    kept = tmp_path / "demo-checkpoint.note"
    assert run(capsys, "audit", "verify", "--checkpoint", str(kept))[0] == 0
    code, again, _ = run(capsys, "demo")
    assert code == 0
    assert "already played" in again
    first_status = out[out.index("\nBình Phước —") : out.index("\nThe log, for auditors")]
    assert (
        again[again.index("\nBình Phước —") : again.index("\nThe log, for auditors")]
        == first_status
    )


def test_a_rebuilt_view_prints_the_digest_the_digest_command_reads(
    configured: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "plans", "import", *map(str, PLANS), "--agencies", str(REGISTRY))[0] == 0
    code, rebuilt, err = run(capsys, "projections", "rebuild", "task_status")
    assert code == 0
    assert "rebuilt from" in err
    assert "[##############################]" in err
    code, digest, _ = run(capsys, "projections", "digest", "task_status")
    assert (code, digest) == (0, rebuilt)
    assert len(digest.strip()) == 64
    assert run(capsys, "projections", "digest", "no_such_view")[0] == 2


def test_every_view_rebuilt_in_one_pass_prints_the_digest_of_each(
    configured: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "plans", "import", *map(str, PLANS), "--agencies", str(REGISTRY))[0] == 0
    code, rebuilt, err = run(capsys, "projections", "rebuild", "--all")
    assert code == 0, err
    assert "views: rebuilt from" in err
    digests = dict(line.split("\t") for line in rebuilt.splitlines())
    assert sorted(digests) == sorted(VIEWS)
    code, alone, _ = run(capsys, "projections", "rebuild", "task_status")
    assert (code, alone.strip()) == (0, digests["task_status"])
    assert run(capsys, "projections", "digest", "--all") == (0, rebuilt, "")
    assert run(capsys, "projections", "rebuild")[0] == 2  # a view or --all
    assert run(capsys, "projections", "rebuild", "task_status", "--all")[0] == 2


def test_plans_status_on_a_past_day_leaves_out_reports_about_later_days_and_later_records(
    configured: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "plans", "import", *map(str, PLANS), "--agencies", str(REGISTRY))[0] == 0
    app = Ledger(env=configured.eventsourcing_env())
    lead = Actor("phuoc-binh.vhxh", channel="test")
    task = "phuoc-binh-2026/task/4"  # due 2026-03-31: overdue, with its percent, after
    execute(app, "progress_reported", task, lead, {"percent": 10, "as_of": dt.date(2026, 3, 2)})
    known_at = dt.datetime.now(dt.UTC)
    execute(app, "progress_reported", task, lead, {"percent": 60, "as_of": dt.date(2026, 5, 4)})

    def percent_of_4(*options: str) -> object:
        code, out, err = run(
            capsys, "plans", "status", "phuoc-binh-2026", *options, "--format", "json"
        )
        assert code == 0, err
        status = json.loads(out)
        return next(i["percent"] for i in status["overdue"] if i["item"].endswith("/task/4"))

    assert percent_of_4("--as-of", "2026-06-30") == 60
    assert percent_of_4("--as-of", "2026-04-01") == 10
    assert percent_of_4("--as-of", "2026-06-30", "--known-at", known_at.isoformat()) == 10
    code, _, err = run(
        capsys, "plans", "status", "phuoc-binh-2026", "--known-at", "2020-01-01T00:00:00+07:00"
    )
    assert (code, "NOT_FOUND" in err) == (2, True)


def test_flags_and_scores_read_a_day_for_scripts(
    configured: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "plans", "import", *map(str, PLANS), "--agencies", str(REGISTRY))[0] == 0
    app = Ledger(env=configured.eventsourcing_env())
    lead = Actor("phuoc-binh.vhxh", channel="test")
    task = "phuoc-binh-2026/task/4"  # due 2026-03-31
    execute(app, "progress_reported", task, lead, {"percent": 40, "as_of": dt.date(2026, 3, 2)})

    def lines(*argv: str) -> list[dict[str, Any]]:
        code, out, err = run(capsys, *argv, "--format", "json")
        assert code == 0, err
        return [json.loads(line) for line in out.splitlines()]

    def past_deadline(day: str) -> set[str]:
        flags = lines("flags", "--plan", "phuoc-binh-2026", "--as-of", day)
        return {f["subject"] for f in flags if f["rule"] == "PAST_DEADLINE"}

    assert task not in past_deadline("2026-03-31")
    assert task in past_deadline("2026-04-01")
    by_agency = lines("flags", "--agency", "phuoc-binh.vhxh", "--as-of", "2026-04-01")
    assert {f["subject"] for f in by_agency} >= {task}
    assert all("phuoc-binh.vhxh" in f["lead"] for f in by_agency)
    cards = lines("scores", "--plan", "phuoc-binh-2026", "--as-of", "2026-04-01")
    ranked = [c for c in cards if c["rank"]]
    assert [c["rank"] for c in ranked] == list(range(1, len(ranked) + 1))
    assert "phuoc-binh.vhxh" in {c["agency"] for c in ranked}
    apart = cards[len(ranked) :]  # the collectives, after the ranking and not ranked
    assert {c["rank"] for c in apart} == {0}
    assert "phuoc-binh.related-units" in {c["agency"] for c in apart}
    code, _, err = run(capsys, "flags", "--as-of", "2026-04-01")
    assert (code, "INVALID_VALUE" in err) == (2, True)


def test_flags_scores_and_status_read_by_people_carry_vietnamese_labels(
    configured: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    """The human outputs: Vietnamese labels (the JSON keys stay as scripts read them)."""
    assert run(capsys, "plans", "import", *map(str, PLANS), "--agencies", str(REGISTRY))[0] == 0
    day = ("--as-of", "2026-04-01")
    code, out, err = run(capsys, "flags", "--plan", "phuoc-binh-2026", *day)
    assert code == 0, err
    late = next(line for line in out.splitlines() if "PAST_DEADLINE" in line)
    assert " (chủ trì: " in late
    assert " từ ngày 2026-" in late
    code, out, err = run(capsys, "scores", "--plan", "phuoc-binh-2026", *day)
    assert code == 0, err
    header, first, *_ = out.splitlines()
    assert header.split() == ["Hạng", "Đơn", "vị", "Điểm", "Thành", "phần"]
    assert first.lstrip().startswith("1.")
    assert "Báo cáo đúng kỳ 0/" in first  # the report's names of the parts
    assert not {"on_time", "acceptance", "timeliness", "unflagged"} & set(out.split())
    code, out, err = run(capsys, "plans", "status", "phuoc-binh-2026", *day)
    assert code == 0, err
    assert "tính đến 2026-04-01" in out
    assert "  Quá hạn: " in out
    assert "  Vướng mắc chưa xử lý: " in out
    code, out, err = run(capsys, "scores", "--plan", "phuoc-binh-2026", *day, "--format", "json")
    assert code == 0, err
    assert set(json.loads(out.splitlines()[0])["parts"]) == {
        "on_time",
        "acceptance",
        "timeliness",
        "unflagged",
    }


def test_missing_lists_the_reports_owed_on_a_day_and_drops_one_that_came(
    configured: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "plans", "import", *map(str, PLANS), "--agencies", str(REGISTRY))[0] == 0
    app = Ledger(env=configured.eventsourcing_env())
    task = "phuoc-binh-2026/task/4"  # led by VHXH; 001 reports monthly from 15 January

    def owed(*argv: str) -> list[dict[str, Any]]:
        code, out, err = run(capsys, "missing", *argv, "--format", "json")
        assert code == 0, err
        return [json.loads(line) for line in out.splitlines()]

    assert owed("--plan", "phuoc-binh-2026", "--as-of", "2026-02-07") == []
    january = {"item": task, "plan": "phuoc-binh-2026", "units": ["phuoc-binh.vhxh"]}
    assert january | {"period": "2026-01", "due": "2026-02-07"} in owed(
        "--agency", "phuoc-binh.vhxh", "--as-of", "2026-02-08"
    )
    sent = dt.datetime(2026, 2, 1, 9, tzinfo=dt.UTC)  # in time: due by 7 February
    lead = Actor("phuoc-binh.vhxh", channel="test", occurred_at=sent)
    execute(app, "progress_reported", task, lead, {"percent": 10, "as_of": dt.date(2026, 1, 31)})
    items = {m["item"] for m in owed("--agency", "phuoc-binh.vhxh", "--as-of", "2026-02-08")}
    assert task not in items
    assert items  # its other items are still owed
    code, out, _ = run(capsys, "missing", "--plan", "phuoc-binh-2026", "--as-of", "2026-02-08")
    assert (code, "kỳ 2026-01 hạn 2026-02-07: phuoc-binh.vhxh" in out) == (0, True)
    code, _, err = run(capsys, "missing", "--as-of", "2026-02-08")
    assert (code, "INVALID_VALUE" in err) == (2, True)


def split_registry(folder: Path) -> tuple[Path, Path]:
    """The registry as two files: Phước Bình's agencies, and every other ward's."""
    registry = yaml.safe_load(REGISTRY.read_text(encoding="utf-8"))
    ours = [a for a in registry["agencies"] if a["id"].startswith("phuoc-binh.")]
    others = [a for a in registry["agencies"] if not a["id"].startswith("phuoc-binh.")]
    paths = folder / "phuoc-binh.yaml", folder / "others.yaml"
    for path, agencies in zip(paths, (ours, others), strict=True):
        document = {**registry, "agencies": agencies}
        path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return paths


def test_plans_import_reads_several_registries_as_one(
    configured: Database, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    ours, others = split_registry(tmp_path)
    args = ["plans", "import", *map(str, PLANS), "--agencies", str(ours), "--agencies", str(others)]
    code, _, err = run(capsys, *args)
    assert code == 0, err
    code, out, _ = run(capsys, "plans", "list", "--format", "json")
    assert len(out.splitlines()) == 4


def test_plans_import_reads_lienthong_agencies_and_refuses_an_agency_in_two_registries(
    configured: Database,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ours, _ = split_registry(tmp_path)
    # Phước Bình's agencies alone do not cover the other wards' plans
    monkeypatch.setenv("LIENTHONG_AGENCIES", str(ours))
    code, out, _ = run(capsys, "plans", "import", *map(str, PLANS), "--format", "json")
    assert code == 2
    assert "UNKNOWN_AGENCY" in {p["code"] for p in json.loads(out)["problems"]}
    # the whole registry beside Phước Bình's: its agencies are stated twice
    monkeypatch.setenv("LIENTHONG_AGENCIES", os.pathsep.join((str(REGISTRY), str(ours))))
    code, out, _ = run(capsys, "plans", "import", *map(str, PLANS), "--format", "json")
    assert code == 2
    twice = [p for p in json.loads(out)["problems"] if p["code"] == "DUPLICATE_KEY"]
    assert twice
    assert all(p["file"] == str(ours) and str(REGISTRY) in p["message"] for p in twice)

"""The dashboard as a person sees it, in a real headless Chromium: Vietnamese pages,
the red flags with their reasons, the bottleneck highlighted in the dependency graph,
the ranking with each score's parts, the reports owed, and a report sent through the
API showing up live (Server-Sent Events from WatchService), without a reload."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from lienthong_sdk import AgencyClient, CoordinationClient
from tests import identities
from tests.browser.conftest import RunningDashboard
from tests.e2e.conftest import ServerThread

PLAN = "phuoc-binh-2026"
WAIT_SECONDS = 30
SCREENSHOT_ENV = (
    "LIENTHONG_DASHBOARD_SCREENSHOT"  # where to copy the screenshot (docs/dashboard.png)
)


def declare_late_dependency(server: ServerThread) -> None:
    """Task 24 (the health post's) waits on task 3 (the office's, due in Quý I/2026):
    on 1 June 2026 the office is the plan's bottleneck."""
    office = identities.identity("phuoc-binh.vhxh")
    with CoordinationClient(
        server.address, "phuoc-binh.vhxh", "Trần Thị B", identity=office
    ) as client:
        verdict = client.declare_dependency(PLAN, "3", "24", "Sổ sức khỏe cần hạ tầng số")
    assert verdict.outcome == "accepted", verdict


def text_of(browser: webdriver.Chrome) -> str:
    return browser.find_element(By.TAG_NAME, "body").text


def test_the_overview_lists_every_plan_in_vietnamese(
    dashboard: RunningDashboard, browser: webdriver.Chrome
) -> None:
    browser.get(dashboard.url + "/")
    assert browser.title == "Tổng quan các kế hoạch — Lienthong"
    cards = browser.find_elements(By.CSS_SELECTOR, ".plan-card")
    assert {c.get_attribute("data-plan") for c in cards} >= {PLAN, "da-mai-2026"}
    body = text_of(browser)
    for label in (
        "Tổng quan các kế hoạch",
        "Chưa triển khai",
        "Hoàn thành",
        "Chờ hoàn thiện",
        "Quá hạn",
    ):
        assert label in body
    bars = browser.find_elements(By.CSS_SELECTOR, f'.plan-card[data-plan="{PLAN}"] svg.bars .bar')
    assert len(bars) == 7


def test_a_plan_shows_flags_with_reasons_the_bottleneck_the_ranking_and_reports_owed(
    server: ServerThread, dashboard: RunningDashboard, browser: webdriver.Chrome, tmp_path: Path
) -> None:
    declare_late_dependency(server)
    browser.get(f"{dashboard.url}/plans/{PLAN}")
    body = text_of(browser)
    assert "Tính đến ngày 2026-06-01" in body
    # Red flags, each with its Vietnamese label, machine code and reason.
    flags = browser.find_elements(By.CSS_SELECTOR, "tr.flag")
    assert flags
    rules = {f.get_attribute("data-rule") for f in flags}
    assert "PAST_DEADLINE" in rules
    past = next(f for f in flags if f.get_attribute("data-rule") == "PAST_DEADLINE")
    assert "Quá hạn" in past.text
    assert past.find_element(By.CSS_SELECTOR, ".reason").text.strip()
    # The dependency graph: task 3 late, holding up task 24 → highlighted as the bottleneck.
    bottleneck = browser.find_element(
        By.CSS_SELECTOR, '#dependency-graph .node.bottleneck[data-task="3"]'
    )
    fill = bottleneck.find_element(By.TAG_NAME, "rect").value_of_css_property("fill")
    assert fill == "rgb(215, 38, 61)"
    assert browser.find_elements(By.CSS_SELECTOR, '#dependency-graph .node.held[data-task="24"]')
    agencies = browser.find_elements(By.CSS_SELECTOR, ".bottleneck-agency")
    assert any("phuoc-binh.vhxh" in a.text for a in agencies)
    # The ranking, each score with its parts.
    cards = browser.find_elements(By.CSS_SELECTOR, "tr.scorecard")
    assert cards
    parts = {
        p.get_attribute("data-part") for p in cards[0].find_elements(By.CSS_SELECTOR, "[data-part]")
    }
    assert parts == {"on_time", "acceptance", "timeliness", "unflagged"}
    assert "Đúng hạn" in cards[0].text
    # The reports owed (REPORT_MISSING), with the units to urge.
    assert browser.find_elements(By.CSS_SELECTOR, "tr.missing-report")
    assert "Báo cáo còn thiếu — cần đôn đốc" in body
    shot = tmp_path / "dashboard.png"
    assert browser.save_screenshot(str(shot))
    if os.environ.get(SCREENSHOT_ENV):
        shutil.copyfile(shot, os.environ[SCREENSHOT_ENV])


def in_progress_count(browser: webdriver.Chrome) -> int:
    bar = browser.find_element(By.CSS_SELECTOR, "#part-overview .bar.status-in_progress")
    return int(bar.get_attribute("data-count") or 0)


def test_a_report_sent_through_the_api_shows_up_live(
    server: ServerThread, dashboard: RunningDashboard, browser: webdriver.Chrome
) -> None:
    browser.get(f"{dashboard.url}/plans/{PLAN}")
    wait = WebDriverWait(browser, WAIT_SECONDS)
    wait.until(lambda b: "on" in (b.find_element(By.ID, "live").get_attribute("class") or ""))
    before = in_progress_count(browser)
    health_post = identities.identity("phuoc-binh.health-post")
    with AgencyClient(
        server.address, "phuoc-binh.health-post", "Nguyễn Văn A", identity=health_post
    ) as client:
        verdict = client.report_progress(f"{PLAN}/task/24", 35, dt.date(2026, 5, 2))
    assert verdict.outcome == "accepted", verdict
    subject = f"{PLAN}/task/24"
    wait.until(
        lambda b: any(
            subject in e.text for e in b.find_elements(By.CSS_SELECTOR, "#activity li.event")
        )
    )
    wait.until(lambda b: in_progress_count(b) == before + 1)
    assert "Trực tiếp" in browser.find_element(By.ID, "live").text


def test_a_bad_day_and_an_unknown_plan_are_refused_with_their_codes(
    dashboard: RunningDashboard, browser: webdriver.Chrome
) -> None:
    browser.get(f"{dashboard.url}/plans/{PLAN}?as_of=hôm-qua")
    assert "INVALID_VALUE" in browser.find_element(By.CSS_SELECTOR, "code.code").text
    assert "Không hiển thị được" in text_of(browser)
    browser.get(f"{dashboard.url}/plans/no-such-plan")
    assert browser.find_element(By.CSS_SELECTOR, "code.code").text == "NOT_FOUND"

"""Separation of duties over the wire: nobody approves its own work, and a collective
acts only through its members. Each refusal carries its own code; the rightful
reviewer or member then succeeds."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from lienthong.v1 import envelope_pb2, review_service_pb2, review_service_pb2_grpc

from tests.e2e.test_grpc_api import (
    PB,
    STEERING,
    TIMEOUT,
    detail,
    envelope,
    publish,
    request_id,
    reviewer,
    status_of,
)

OFFICE = "phuoc-binh.vhxh"
HEALTH_POST = "phuoc-binh.health-post"  # leads and monitors KPI 7
ALL_AGENCIES = "phuoc-binh.all-agencies"  # "Các cơ quan, đơn vị": a collective
POLICE = "phuoc-binh.police"  # one of its members
REPORT = hashlib.sha256(b"bao cao so suc khoe dien tu").hexdigest()


def accept(channel: grpc.Channel, by: str, subject: str, sha256: str) -> envelope_pb2.Verdict:
    return (
        review(channel)
        .AcceptEvidence(
            review_service_pb2.AcceptEvidenceRequest(
                request_id=request_id(),
                reviewer=reviewer(by),
                subject=subject,
                sha256=sha256,
                quality=envelope_pb2.EVIDENCE_QUALITY_GOOD,
            ),
            timeout=TIMEOUT,
        )
        .verdict
    )


def confirm(channel: grpc.Channel, by: str, subject: str) -> envelope_pb2.Verdict:
    return (
        review(channel)
        .ConfirmCompletion(
            review_service_pb2.ConfirmCompletionRequest(
                request_id=request_id(), reviewer=reviewer(by), subject=subject
            ),
            timeout=TIMEOUT,
        )
        .verdict
    )


def review(channel: grpc.Channel) -> review_service_pb2_grpc.ReviewServiceStub:
    return review_service_pb2_grpc.ReviewServiceStub(channel)


def refused(call: Callable[[], Any], code: str) -> None:
    """``call`` is refused as forbidden, with the domain code ``code``."""
    with pytest.raises(grpc.RpcError) as raised:
        call()
    assert raised.value.code() is grpc.StatusCode.PERMISSION_DENIED
    status = status_of(raised.value)
    assert detail(status, error_details_pb2.ErrorInfo).reason == code
    assert detail(status, envelope_pb2.Verdict).outcome == envelope_pb2.OUTCOME_REJECTED


def claimed(channel: grpc.Channel, agency: str, subject: str, sha256: str) -> None:
    verdict = publish(channel, envelope(agency, subject, (sha256,), completion_claimed={}))
    assert verdict.outcome == envelope_pb2.OUTCOME_ACCEPTED


ACCEPTED = envelope_pb2.OUTCOME_ACCEPTED


def test_the_office_may_not_approve_its_own_task_the_steering_committee_does(
    channel: grpc.Channel,
) -> None:
    task = f"{PB}/task/3"  # led by the office, VHXH
    claimed(channel, OFFICE, task, REPORT)
    refused(lambda: accept(channel, OFFICE, task, REPORT), "SELF_REVIEW")
    assert accept(channel, STEERING, task, REPORT).outcome == ACCEPTED
    refused(lambda: confirm(channel, OFFICE, task), "SELF_REVIEW")
    assert confirm(channel, STEERING, task).outcome == ACCEPTED


def test_a_lead_that_monitors_its_own_kpi_may_not_approve_itself_the_office_does(
    channel: grpc.Channel,
) -> None:
    kpi = f"{PB}/indicator/7"  # 001 KPI 7: the health post leads and monitors it
    measured = {"value": "92", "unit": "%", "period": "2026", "as_of": "2026-03-31"}
    assert publish(channel, envelope(HEALTH_POST, kpi, indicator_measured=measured)).outcome == (
        ACCEPTED  # ≥ 90: it may be claimed "Hoàn thành"
    )
    claimed(channel, HEALTH_POST, kpi, REPORT)
    refused(lambda: accept(channel, HEALTH_POST, kpi, REPORT), "SELF_REVIEW")
    refused(lambda: confirm(channel, HEALTH_POST, kpi), "SELF_REVIEW")
    assert accept(channel, OFFICE, kpi, REPORT).outcome == ACCEPTED
    assert confirm(channel, OFFICE, kpi).outcome == ACCEPTED


def test_a_collective_never_acts_in_its_own_name_its_members_do(channel: grpc.Channel) -> None:
    task = f"{PB}/task/7"  # led by "Các cơ quan, đơn vị"
    report = {"percent": 30, "as_of": "2026-03-20"}
    # A collective holds no certificate: whoever sends in its name is not the caller
    # (the domain's COLLECTIVE_CANNOT_ACT stays behind that, for any other path).
    refused(
        lambda: publish(channel, envelope(ALL_AGENCIES, task, progress_reported=report)),
        "AGENCY_NOT_CALLER",
    )
    assert publish(channel, envelope(POLICE, task, progress_reported=report)).outcome == ACCEPTED
    claimed(channel, POLICE, task, REPORT)
    refused(lambda: accept(channel, ALL_AGENCIES, task, REPORT), "AGENCY_NOT_CALLER")

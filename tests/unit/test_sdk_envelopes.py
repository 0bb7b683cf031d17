"""The SDK's envelope builders and its decoding of verdicts and refusals, without a server.

Refusals are built the way ``services/api/errors.py`` builds them: a
``google.rpc.Status`` whose details pack an ``ErrorInfo``, a ``BadRequest`` and, for a
refused submission, the ``lienthong.v1.Verdict``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from lienthong.v1 import envelope_pb2

from lienthong_sdk import envelopes
from lienthong_sdk._rpc import STATUS_DETAILS_KEY, Connection, paginate, status_of
from lienthong_sdk.client import LienthongError, Verdict
from lienthong_sdk.envelopes import Envelope
from lienthong_sdk.evidence import Evidence
from lienthong_sdk.identity import canonical_bytes
from lienthong_sdk.verdicts import rejected_verdict
from services.app.submissions import TryAgainError
from services.grpc.errors import status_of as server_status

ICT = dt.timezone(dt.timedelta(hours=7))
WHEN = dt.datetime(2026, 3, 31, 16, 30, tzinfo=ICT)
DAY = dt.date(2026, 3, 31)
TASK = "phuoc-binh-2026/task/24"
INDICATOR = "phuoc-binh-2026/indicator/3.1"
PLAN = "phuoc-binh-2026"
AGENCY = "phuoc-binh.health-post"
OFFICE = "phuoc-binh.vhxh"
EVENT_ID = "0b7d5c1e-4a7f-4d8e-9b0a-3f1e2d4c5b6a"
SHA = hashlib.sha256(b"signed decision").hexdigest()
DECISION = Evidence(SHA, "https://docs.example/qd-12.pdf", "application/pdf", "QĐ 12")
PHOTO = Evidence(
    hashlib.sha256(b"photo").hexdigest(), "https://docs.example/photo.jpg", "image/jpeg"
)
HEADER: envelopes.Header = {"agency_id": AGENCY, "occurred_at": WHEN}


def payload_of(envelope: Envelope) -> tuple[str | None, dict[str, Any]]:
    """The envelope's payload kind and the payload's fields as plain values."""
    kind = envelope.WhichOneof("payload")
    if kind is None:
        return None, {}
    payload: Message = getattr(envelope, kind)
    return kind, {field.name: value for field, value in payload.ListFields()}


def status_for(code: int, message: str, details: Sequence[Message]) -> status_pb2.Status:
    """As services/api/errors.py: a status with every detail packed."""
    status = status_pb2.Status(code=code, message=message)
    for detail in details:
        status.details.add().Pack(detail)
    return status


def error_info(reason: str, **metadata: str) -> error_details_pb2.ErrorInfo:
    return error_details_pb2.ErrorInfo(reason=reason, domain="lienthong.v1", metadata=metadata)


def bad_request(*violations: tuple[str, str]) -> error_details_pb2.BadRequest:
    return error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=f, description=d, reason="X")
            for f, d in violations
        ]
    )


# Every builder ----------------------------------------------------------------------------

BUILDERS: list[tuple[str, Callable[[], Envelope], str, dict[str, Any]]] = [
    (
        "progress_reported",
        lambda: envelopes.progress_reported(
            TASK, percent=35, as_of=DAY, note="đã liên thông 35%", **HEADER
        ),
        TASK,
        {"percent": 35, "as_of": "2026-03-31", "note": "đã liên thông 35%"},
    ),
    (
        "contribution_reported",
        lambda: envelopes.contribution_reported(TASK, percent=20, as_of=DAY, **HEADER),
        TASK,
        {"percent": 20, "as_of": "2026-03-31"},
    ),
    (
        "report_corrected",
        lambda: envelopes.report_corrected(
            TASK, report_version=3, percent=30, reason="nhập nhầm", **HEADER
        ),
        TASK,
        {"report_version": 3, "percent": 30, "reason": "nhập nhầm"},
    ),
    (
        "indicator_measured",
        lambda: envelopes.indicator_measured(
            INDICATOR, value="71,5", unit="%", period="2026-Q1", as_of=DAY, **HEADER
        ),
        INDICATOR,
        {"value": "71,5", "unit": "%", "period": "2026-Q1", "as_of": "2026-03-31"},
    ),
    (
        "measurement_corrected",
        lambda: envelopes.measurement_corrected(
            INDICATOR, measurement_version=4, value=70, unit="%", reason="số liệu mới", **HEADER
        ),
        INDICATOR,
        {"measurement_version": 4, "value": "70", "unit": "%", "reason": "số liệu mới"},
    ),
    (
        "evidence_submitted",
        lambda: envelopes.evidence_submitted(TASK, evidence=DECISION, **HEADER),
        TASK,
        {},
    ),
    (
        "completion_claimed",
        lambda: envelopes.completion_claimed(
            TASK, evidence=[DECISION], note="hoàn thành", **HEADER
        ),
        TASK,
        {"note": "hoàn thành"},
    ),
    (
        "obstacle_raised",
        lambda: envelopes.obstacle_raised(
            TASK, obstacle_id="ob-1", kind="blocker", description="chưa có kết nối", **HEADER
        ),
        TASK,
        {
            "obstacle_id": "ob-1",
            "kind": envelope_pb2.OBSTACLE_KIND_BLOCKER,
            "description": "chưa có kết nối",
        },
    ),
    (
        "obstacle_resolved",
        lambda: envelopes.obstacle_resolved(
            TASK, obstacle_id="ob-1", resolution="đã kết nối", **HEADER
        ),
        TASK,
        {"obstacle_id": "ob-1", "resolution": "đã kết nối"},
    ),
    (
        "evidence_accepted",
        lambda: envelopes.evidence_accepted(
            TASK, sha256=SHA, quality="adequate", reason="đủ", **HEADER
        ),
        TASK,
        {"sha256": SHA, "quality": envelope_pb2.EVIDENCE_QUALITY_ADEQUATE, "reason": "đủ"},
    ),
    (
        "evidence_rejected",
        lambda: envelopes.evidence_rejected(
            TASK, sha256=SHA, reason="chưa ký", quality="low", **HEADER
        ),
        TASK,
        {"sha256": SHA, "quality": envelope_pb2.EVIDENCE_QUALITY_LOW, "reason": "chưa ký"},
    ),
    (
        "completion_confirmed",
        lambda: envelopes.completion_confirmed(TASK, note="xác nhận", **HEADER),
        TASK,
        {"note": "xác nhận"},
    ),
    (
        "deadline_changed",
        lambda: envelopes.deadline_changed(
            TASK, deadline="Quý II/2026", reason="chờ tỉnh", document="QĐ 12/QĐ-UBND", **HEADER
        ),
        TASK,
        {"deadline": "Quý II/2026", "reason": "chờ tỉnh", "document": "QĐ 12/QĐ-UBND"},
    ),
    (
        "dependency_declared",
        lambda: envelopes.dependency_declared(
            PLAN, upstream_task="28", downstream_task="24", reason="cần dữ liệu", **HEADER
        ),
        PLAN,
        {"upstream_task": "28", "downstream_task": "24", "reason": "cần dữ liệu"},
    ),
    (
        "dependency_withdrawn",
        lambda: envelopes.dependency_withdrawn(
            PLAN, upstream_task="28", downstream_task="24", reason="đã xong", **HEADER
        ),
        PLAN,
        {"upstream_task": "28", "downstream_task": "24", "reason": "đã xong"},
    ),
]


@pytest.mark.parametrize(
    ("kind", "build", "subject", "fields"), BUILDERS, ids=[row[0] for row in BUILDERS]
)
def test_each_builder_sets_its_own_payload_with_the_fields_given(
    kind: str, build: Callable[[], Envelope], subject: str, fields: dict[str, Any]
) -> None:
    envelope = build()
    assert payload_of(envelope) == (kind, fields)
    assert envelope.subject == subject
    assert envelope.agency_id == AGENCY


def test_the_builders_cover_every_payload_of_the_envelope() -> None:
    oneof = Envelope.DESCRIPTOR.oneofs_by_name["payload"]
    assert sorted(row[0] for row in BUILDERS) == sorted(f.name for f in oneof.fields)


def test_an_envelope_carries_the_agency_the_person_and_when_it_happened() -> None:
    envelope = envelopes.progress_reported(
        TASK, percent=35, as_of=DAY, agency_id=AGENCY, person="BS. Hạnh", occurred_at=WHEN
    )
    assert envelope.agency_id == AGENCY
    assert envelope.person == "BS. Hạnh"
    assert envelope.occurred_at.ToDatetime(tzinfo=dt.UTC) == WHEN
    assert not envelope.HasField("signature")


def test_an_envelope_without_a_person_names_nobody() -> None:
    envelope = envelopes.completion_confirmed(TASK, agency_id=OFFICE, person=None)
    assert envelope.person == ""


# Event ids ----------------------------------------------------------------------------------


def test_every_envelope_gets_a_fresh_uuid4_event_id() -> None:
    ids = [envelopes.completion_confirmed(TASK, **HEADER).event_id for _ in range(50)]
    assert len(set(ids)) == len(ids)
    assert all(uuid.UUID(event_id).version == 4 for event_id in ids)


def test_an_event_id_given_by_the_publisher_is_kept() -> None:
    envelope = envelopes.completion_confirmed(TASK, agency_id=AGENCY, event_id=EVENT_ID)
    assert envelope.event_id == EVENT_ID


def test_an_event_id_that_is_not_a_uuid_is_refused() -> None:
    with pytest.raises(ValueError, match="hexadecimal UUID"):
        envelopes.completion_confirmed(TASK, agency_id=AGENCY, event_id="report-1")


# Days and times -----------------------------------------------------------------------------


def test_as_of_is_written_as_year_month_day() -> None:
    envelope = envelopes.progress_reported(TASK, percent=5, as_of=dt.date(2026, 1, 9), **HEADER)
    assert envelope.progress_reported.as_of == "2026-01-09"


def test_as_of_refuses_a_datetime_since_it_names_a_day() -> None:
    with pytest.raises(TypeError, match=r"expected a datetime\.date"):
        envelopes.progress_reported(TASK, percent=5, as_of=WHEN, **HEADER)


def test_occurred_at_must_carry_a_timezone() -> None:
    naive = dt.datetime(2026, 3, 31, 16, 30)  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="has no timezone"):
        envelopes.completion_confirmed(TASK, agency_id=AGENCY, occurred_at=naive)


def test_occurred_at_in_vietnam_time_is_the_same_instant_in_utc() -> None:
    envelope = envelopes.completion_confirmed(TASK, **HEADER)
    assert envelope.occurred_at.ToDatetime() == dt.datetime(2026, 3, 31, 9, 30)  # noqa: DTZ001


def test_occurred_at_defaults_to_now() -> None:
    before = dt.datetime.now(dt.UTC)
    envelope = envelopes.completion_confirmed(TASK, agency_id=AGENCY)
    assert before <= envelope.occurred_at.ToDatetime(tzinfo=dt.UTC) <= dt.datetime.now(dt.UTC)


# Values --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "sent"), [("Khá", "Khá"), (71.5, "71.5"), (Decimal("71.50"), "71.50"), (3, "3")]
)
def test_a_measured_value_is_sent_as_text(value: envelopes.Value, sent: str) -> None:
    envelope = envelopes.indicator_measured(
        INDICATOR, value=value, unit="%", period="2026", as_of=DAY, **HEADER
    )
    assert envelope.indicator_measured.value == sent


def test_an_unknown_obstacle_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="kind must be one of difficulty, blocker"):
        envelopes.obstacle_raised(
            TASK,
            obstacle_id="ob-1",
            kind="problem",  # type: ignore[arg-type]
            description="?",
            **HEADER,
        )


def test_an_unknown_evidence_quality_is_refused() -> None:
    with pytest.raises(ValueError, match="quality must be one of good, adequate, low"):
        envelopes.evidence_accepted(TASK, sha256=SHA, quality="fine", **HEADER)  # type: ignore[arg-type]


def test_an_omitted_quality_leaves_the_choice_to_the_server() -> None:
    envelope = envelopes.evidence_rejected(TASK, sha256=SHA, reason="chưa ký", **HEADER)
    assert envelope.evidence_rejected.quality == envelope_pb2.EVIDENCE_QUALITY_UNSPECIFIED


# Evidence -------------------------------------------------------------------------------------


def test_evidence_is_attached_to_the_envelope_in_the_order_given() -> None:
    envelope = envelopes.progress_reported(
        TASK, percent=35, as_of=DAY, evidence=[DECISION, PHOTO], **HEADER
    )
    assert [e.sha256 for e in envelope.evidence] == [DECISION.sha256, PHOTO.sha256]
    assert envelope.evidence[0] == envelope_pb2.EvidenceReference(
        sha256=SHA,
        uri="https://docs.example/qd-12.pdf",
        media_type="application/pdf",
        description="QĐ 12",
    )


def test_a_single_piece_of_evidence_needs_no_list() -> None:
    envelope = envelopes.completion_claimed(TASK, evidence=PHOTO, **HEADER)
    assert [e.uri for e in envelope.evidence] == [PHOTO.uri]


def test_submitting_evidence_needs_at_least_one_piece() -> None:
    with pytest.raises(ValueError, match="at least one piece of evidence"):
        envelopes.evidence_submitted(TASK, evidence=[], **HEADER)


def test_evidence_of_a_file_is_the_sha256_of_its_bytes(tmp_path: Path) -> None:
    path = tmp_path / "quyet-dinh.pdf"
    path.write_bytes(b"%PDF-1.7 signed" * 10_000)
    evidence = Evidence.of_file(path, "https://docs.example/qd.pdf", "application/pdf", "QĐ")
    assert evidence == Evidence(
        hashlib.sha256(path.read_bytes()).hexdigest(),
        "https://docs.example/qd.pdf",
        "application/pdf",
        "QĐ",
    )


def test_evidence_of_a_file_guesses_its_media_type_from_its_name(tmp_path: Path) -> None:
    path = tmp_path / "anh-san-pham.jpg"
    path.write_bytes(b"jpeg")
    assert Evidence.of_file(path, "https://docs.example/a.jpg").media_type == "image/jpeg"


@pytest.mark.parametrize("sha256", ["", "abc", SHA.upper(), SHA + "0", "g" * 64])
def test_evidence_refuses_anything_but_64_lowercase_hex_digits(sha256: str) -> None:
    with pytest.raises(ValueError, match="64 lowercase hex digits"):
        Evidence(sha256, "https://docs.example/x")


# Canonical bytes -------------------------------------------------------------------------------


def signed(envelope: Envelope, signature: bytes) -> Envelope:
    copy = Envelope()
    copy.CopyFrom(envelope)
    copy.signature.CopyFrom(
        envelope_pb2.Signature(key_id="health-post-1", algorithm="ed25519", signature=signature)
    )
    return copy


def test_canonical_bytes_ignore_the_signature() -> None:
    envelope = envelopes.progress_reported(TASK, percent=35, as_of=DAY, **HEADER)
    assert canonical_bytes(signed(envelope, b"one")) == canonical_bytes(envelope)
    assert canonical_bytes(signed(envelope, b"one")) == canonical_bytes(signed(envelope, b"two"))


def test_canonical_bytes_leave_the_signature_of_the_envelope_in_place() -> None:
    envelope = signed(envelopes.progress_reported(TASK, percent=35, as_of=DAY, **HEADER), b"s")
    canonical_bytes(envelope)
    assert envelope.signature.signature == b"s"


def test_canonical_bytes_are_the_envelope_itself_without_its_signature() -> None:
    envelope = envelopes.completion_claimed(TASK, evidence=[DECISION, PHOTO], **HEADER)
    assert Envelope.FromString(canonical_bytes(signed(envelope, b"s"))) == envelope


def test_canonical_bytes_do_not_depend_on_the_order_fields_were_set_in() -> None:
    first = Envelope(event_id=EVENT_ID, agency_id=AGENCY, subject=TASK)
    first.progress_reported.percent = 35
    first.progress_reported.as_of = "2026-03-31"
    second = Envelope()
    second.progress_reported.as_of = "2026-03-31"
    second.subject = TASK
    second.progress_reported.percent = 35
    second.agency_id = AGENCY
    second.event_id = EVENT_ID
    assert canonical_bytes(first) == canonical_bytes(second)


def test_canonical_bytes_differ_when_the_content_differs() -> None:
    same: envelopes.Header = {"agency_id": AGENCY, "occurred_at": WHEN, "event_id": EVENT_ID}
    envelope = envelopes.progress_reported(TASK, percent=35, as_of=DAY, **same)
    other = envelopes.progress_reported(TASK, percent=36, as_of=DAY, **same)
    assert canonical_bytes(envelope) != canonical_bytes(other)


# Verdicts -----------------------------------------------------------------------------------------


def test_an_accepted_verdict_keeps_its_position() -> None:
    message = envelope_pb2.Verdict(
        event_id=EVENT_ID, outcome=envelope_pb2.OUTCOME_ACCEPTED, position=275
    )
    verdict = Verdict.from_proto(message)
    assert verdict == Verdict(EVENT_ID, "accepted", position=275)
    assert not verdict.refused


def test_a_duplicate_verdict_says_what_became_of_the_first_submission() -> None:
    message = envelope_pb2.Verdict(
        event_id=EVENT_ID,
        outcome=envelope_pb2.OUTCOME_DUPLICATE,
        position=275,
        first_outcome=envelope_pb2.OUTCOME_ACCEPTED,
    )
    assert Verdict.from_proto(message) == Verdict(
        EVENT_ID, "duplicate", position=275, first_outcome="accepted"
    )


def test_a_duplicate_of_a_refused_submission_counts_as_refused() -> None:
    message = envelope_pb2.Verdict(
        event_id=EVENT_ID,
        outcome=envelope_pb2.OUTCOME_DUPLICATE,
        reason_code="NOT_LEAD_UNIT",
        first_outcome=envelope_pb2.OUTCOME_REJECTED,
    )
    assert Verdict.from_proto(message).refused


def test_a_verdict_without_an_outcome_is_refused() -> None:
    with pytest.raises(ValueError, match="has no outcome"):
        Verdict.from_proto(envelope_pb2.Verdict(event_id=EVENT_ID))


def refused_submission_status(verdict: envelope_pb2.Verdict) -> status_pb2.Status:
    """As the server refuses a submission: ErrorInfo, BadRequest, then the verdict."""
    message = "phuoc-binh.police is not a lead unit of 24"
    return status_for(
        code_pb2.PERMISSION_DENIED,
        message,
        [
            error_info("NOT_LEAD_UNIT", field="agency_id"),
            bad_request(("agency_id", message)),
            verdict,
        ],
    )


def test_a_refused_submission_reads_as_a_rejected_verdict() -> None:
    status = refused_submission_status(
        envelope_pb2.Verdict(
            event_id=EVENT_ID,
            outcome=envelope_pb2.OUTCOME_REJECTED,
            reason_code="NOT_LEAD_UNIT",
            message="phuoc-binh.police is not a lead unit of 24",
        )
    )
    assert rejected_verdict(status) == Verdict(
        EVENT_ID,
        "rejected",
        reason_code="NOT_LEAD_UNIT",
        message="phuoc-binh.police is not a lead unit of 24",
    )


def test_a_refusal_whose_verdict_is_bare_takes_reason_and_message_from_the_status() -> None:
    status = refused_submission_status(envelope_pb2.Verdict(event_id=EVENT_ID))
    assert rejected_verdict(status) == Verdict(
        EVENT_ID,
        "rejected",
        reason_code="NOT_LEAD_UNIT",
        message="phuoc-binh.police is not a lead unit of 24",
    )


def test_a_refusal_without_a_verdict_is_no_verdict() -> None:
    status = status_for(code_pb2.NOT_FOUND, "plan nope was not found", [error_info("NOT_FOUND")])
    assert rejected_verdict(status) is None


# Errors --------------------------------------------------------------------------------------------


def test_an_invalid_request_lists_every_field_violation() -> None:
    status = status_for(
        code_pb2.INVALID_ARGUMENT,
        "envelope.event_id: 'x' is not a UUID; envelope.occurred_at: is required",
        [
            error_info("INVALID_REQUEST", fields="envelope.event_id,envelope.occurred_at"),
            bad_request(
                ("envelope.event_id", "'x' is not a UUID"), ("envelope.occurred_at", "is required")
            ),
        ],
    )
    error = LienthongError.from_status(status)
    assert error.code == "INVALID_ARGUMENT"
    assert error.reason == "INVALID_REQUEST"
    assert error.message == status.message
    assert error.field_violations == [
        ("envelope.event_id", "'x' is not a UUID"),
        ("envelope.occurred_at", "is required"),
    ]
    assert error.metadata == {"fields": "envelope.event_id,envelope.occurred_at"}
    assert error.verdict is None
    assert not error.unreachable


def test_an_error_reads_as_its_code_reason_and_message() -> None:
    status = status_for(
        code_pb2.FAILED_PRECONDITION,
        "24 is completed",
        [error_info("ITEM_CLOSED"), bad_request(("subject", "closed since 2026-03-01"))],
    )
    assert str(LienthongError.from_status(status)) == (
        "FAILED_PRECONDITION ITEM_CLOSED: 24 is completed\n  subject: closed since 2026-03-01"
    )


def test_an_error_from_a_refused_submission_carries_its_verdict() -> None:
    status = refused_submission_status(
        envelope_pb2.Verdict(event_id=EVENT_ID, outcome=envelope_pb2.OUTCOME_REJECTED)
    )
    error = LienthongError.from_status(status)
    assert error.code == "PERMISSION_DENIED"
    assert error.verdict is not None
    assert error.verdict.reason_code == "NOT_LEAD_UNIT"


def test_a_status_without_details_is_just_its_code_and_message() -> None:
    error = LienthongError.from_status(status_for(code_pb2.UNAVAILABLE, "connection refused", []))
    assert (error.code, error.reason, error.field_violations) == (
        "UNAVAILABLE",
        "",
        [],
    )
    assert error.unreachable


def test_details_the_client_does_not_know_are_ignored() -> None:
    status = status_for(
        code_pb2.RESOURCE_EXHAUSTED,
        "slow down",
        [error_details_pb2.RetryInfo(), error_info("RATE_LIMITED")],
    )
    assert LienthongError.from_status(status).reason == "RATE_LIMITED"


class FailedCall(grpc.RpcError):  # type: ignore[misc]
    """What a failed call raises: its code, details and trailing metadata."""

    def __init__(self, code: grpc.StatusCode, status: status_pb2.Status | None = None) -> None:
        super().__init__()
        self._code = code
        self._status = status

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._status.message if self._status else "failed"

    def trailing_metadata(self) -> tuple[tuple[str, Any], ...]:
        if self._status is None:
            return (("content-type", "application/grpc"),)
        return ((STATUS_DETAILS_KEY, self._status.SerializeToString()),)


def test_the_status_of_a_failed_call_is_read_from_its_trailer() -> None:
    status = refused_submission_status(envelope_pb2.Verdict(event_id=EVENT_ID))
    assert status_of(FailedCall(grpc.StatusCode.PERMISSION_DENIED, status)) == status


def test_a_failed_call_without_a_rich_status_gives_its_code_and_details() -> None:
    assert status_of(FailedCall(grpc.StatusCode.UNAVAILABLE)) == status_pb2.Status(
        code=code_pb2.UNAVAILABLE, message="failed"
    )


# Retries and pages -------------------------------------------------------------------------------


class Attempts:
    """An attempt that fails with the given codes first, then succeeds."""

    def __init__(self, *failures: grpc.StatusCode) -> None:
        self.failures = list(failures)
        self.timeouts: list[float] = []

    def __call__(self, timeout: float) -> str:
        self.timeouts.append(timeout)
        if self.failures:
            raise FailedCall(self.failures.pop(0))
        return "answer"


def connection(sleeps: list[float], retries: int = 4) -> Connection:
    no_channel = object()  # never used: the attempts are local
    return Connection(no_channel, timeout=3.0, retries=retries, backoff=0.2, sleep=sleeps.append)


@pytest.mark.parametrize(
    "code",
    [
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
    ],
)
def test_a_transient_failure_is_retried_with_exponential_backoff(code: grpc.StatusCode) -> None:
    sleeps: list[float] = []
    attempts = Attempts(code, code, code)
    assert connection(sleeps).call(attempts) == "answer"
    assert sleeps == pytest.approx([0.2, 0.4, 0.8])
    assert attempts.timeouts == [3.0] * 4


def test_retries_stop_after_the_configured_number() -> None:
    sleeps: list[float] = []
    attempts = Attempts(*[grpc.StatusCode.UNAVAILABLE] * 3)
    with pytest.raises(FailedCall):
        connection(sleeps, retries=2).call(attempts)
    assert len(attempts.timeouts) == 3
    assert sleeps == pytest.approx([0.2, 0.4])


def test_a_refusal_is_not_retried() -> None:
    sleeps: list[float] = []
    attempts = Attempts(grpc.StatusCode.INVALID_ARGUMENT)
    with pytest.raises(FailedCall):
        connection(sleeps).call(attempts)
    assert (len(attempts.timeouts), sleeps) == (1, [])


def test_pages_are_followed_until_the_token_runs_out() -> None:
    pages = {"": ([1, 2], "b"), "b": ([3, 4], "c"), "c": ([5], "")}
    assert list(paginate(lambda token: pages[token])) == [1, 2, 3, 4, 5]


def test_an_empty_page_handing_back_its_own_token_ends_the_list() -> None:
    pages = {"": ([1, 2], "end"), "end": ([], "end")}
    assert list(paginate(lambda token: pages[token])) == [1, 2]


def test_a_page_token_handed_out_twice_is_an_error_not_a_loop() -> None:
    pages = {"": ([1], "a"), "a": ([2], "b"), "b": ([3], "a")}
    with pytest.raises(LienthongError, match="PAGE_TOKEN_REPEATED"):
        list(paginate(lambda token: pages[token]))


def test_a_contended_submission_is_retried_after_the_delay_the_server_asks_for() -> None:
    refusal = server_status(TryAgainError("SUBJECT_CONTENDED", "kept changing", retry_after=1.5))
    assert refusal is not None
    assert refusal.code == code_pb2.ABORTED
    failures = [FailedCall(grpc.StatusCode.ABORTED, refusal)]

    def attempt(_timeout: float) -> str:
        if failures:
            raise failures.pop()
        return "answer"

    sleeps: list[float] = []
    assert connection(sleeps).call(attempt) == "answer"
    assert sleeps == [1.5]

"""Every bad input is a specific refusal, on both channels, and nothing storable breaks
a view: a corpus of bad envelopes (published over gRPC, and the same bytes ingested
as Kafka records by the worker's ingestor), bad requests to every service and bytes
that are no request at all. Each case asserts its code, that the server still
answers SERVING and that a good submission sent right after lands. Each poison case
(one that once broke a view) then restarts the server on the same data, its views
rebuilt from the log, and finds it SERVING with the good submission visible.

One server and one database serve the whole module (cases are independent: each
has its own ids), so that the corpus stays fast; the restarts replace the server.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import unicodedata
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import psycopg
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from lienthong.v1 import (
    audit_service_pb2,
    audit_service_pb2_grpc,
    envelope_pb2,
    ingest_service_pb2,
    ingest_service_pb2_grpc,
    plan_service_pb2,
    plan_service_pb2_grpc,
    review_service_pb2,
    review_service_pb2_grpc,
    watch_service_pb2,
    watch_service_pb2_grpc,
)
from psycopg import sql

from projections.engine.runner import ProjectionRunner
from projections.views import VIEWS
from services.app.clock import ward_today
from services.app.ledger import Actor, Ledger
from services.kafka.ingest import BatchIngestor, Record
from services.store.database import Database, ensure_database
from tests import identities
from tests.conftest import PLANS
from tests.e2e.conftest import ServerThread, prepare, routing_channel
from tests.e2e.test_grpc_api import detail, status_of
from tests.identities import signed
from tests.unit.test_error_codes_doc import documented_codes

PB = "phuoc-binh-2026"
TASK = f"{PB}/task/24"
INDICATOR = f"{PB}/indicator/7"
LEAD = "phuoc-binh.health-post"
OFFICE = "phuoc-binh.vhxh"
TOPIC = "agency-events"
TIMEOUT = 20
MIB = 1024 * 1024
NUL, ESC, DEL, NEL, RLO, LRI, ZWSP, ZWJ, BOM = (
    "\x00",
    "\x1b",
    "\x7f",
    "\x85",
    "\u202e",
    "\u2066",
    "\u200b",
    "\u200d",
    "\ufeff",
)
TEXT = {
    "TEXT_CONTROL_CHARACTER",
    "TEXT_BIDI_CONTROL",
    "TEXT_INVISIBLE_CHARACTER",
    "TEXT_NOT_NFC",
    "TEXT_TOO_LONG",
}
counter = itertools.count(1)


# The module's server, database and Kafka-record ingestor --------------------------


@dataclass
class Site:
    database: Database
    server: ServerThread
    channel: grpc.Channel
    ingestor: BatchIngestor
    offsets: Iterator[int]

    def restart(self) -> None:
        """Stop the server, drop every view, start a new server on the same data: its
        views are rebuilt from the whole log, every receipt included."""
        self.channel.close()
        self.server.stop()
        app = Ledger(env=self.database.eventsourcing_env())
        for factory in VIEWS.values():
            ProjectionRunner(app, factory(app)).drop()
        self.server = ServerThread(app)
        self.server.start()
        self.channel = open_channel(self.server.port)


def open_channel(port: int) -> grpc.Channel:
    """Mutual TLS, each request as the agency it names (see ``tests/e2e/conftest``)."""
    return routing_channel(port)


@pytest.fixture(scope="module")
def site(postgres: Database) -> Iterator[Site]:
    name = f"test_bad_{uuid.uuid4().hex[:12]}"
    database = ensure_database(postgres, name)
    app = Ledger(env=database.eventsourcing_env())
    prepare(app)
    server = ServerThread(app)
    server.start()
    writer = Ledger(env=database.eventsourcing_env())
    here = Site(
        database,
        server,
        open_channel(server.port),
        BatchIngestor(writer, anchors=identities.anchors()),
        itertools.count(),
    )
    yield here
    here.channel.close()
    here.server.stop()
    writer.close()
    with psycopg.connect(postgres.conninfo(), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


# Envelopes ------------------------------------------------------------------------


def envelope(
    subject: str = TASK, agency: str = LEAD, **payload: Any
) -> envelope_pb2.AgencyEventEnvelope:
    message = envelope_pb2.AgencyEventEnvelope(
        event_id=str(uuid.uuid4()), agency_id=agency, subject=subject, person="Nguyễn Văn A"
    )
    message.occurred_at.FromDatetime(dt.datetime.now(dt.UTC))
    ((kind, fields),) = (payload or {"obstacle_raised": {}}).items()
    if kind == "obstacle_raised":
        fields = {
            "obstacle_id": f"ob-{next(counter)}",
            "kind": envelope_pb2.OBSTACLE_KIND_DIFFICULTY,
            "description": "Thiếu kinh phí",
            **fields,
        }
    getattr(message, kind).CopyFrom(
        getattr(envelope_pb2, "".join(w.title() for w in kind.split("_")))(**fields)
    )
    return message


def progress(**fields: Any) -> envelope_pb2.AgencyEventEnvelope:
    return envelope(progress_reported={"percent": 30, "as_of": "2026-03-01", **fields})


def measured(**fields: Any) -> envelope_pb2.AgencyEventEnvelope:
    values = {"value": "71,5", "unit": "%", "period": "2026-02", "as_of": "2026-02-28"}
    return envelope(INDICATOR, indicator_measured={**values, **fields})


def next_month() -> str:
    """The ward's next month, a period nobody can have measured yet."""
    today = ward_today()
    following = dt.date(today.year + today.month // 12, today.month % 12 + 1, 1)
    return following.strftime("%Y-%m")


def with_evidence(count: int = 1, **fields: str) -> envelope_pb2.AgencyEventEnvelope:
    message = envelope(evidence_submitted={})
    for index in range(count):
        sha = hashlib.sha256(f"doc {uuid.uuid4()} {index}".encode()).hexdigest()
        reference = {"sha256": sha, "uri": f"s3://evidence/{sha[:8]}.pdf"}
        message.evidence.add(**{"media_type": "application/pdf", **reference, **fields})
    return message


def changed(
    message: envelope_pb2.AgencyEventEnvelope, **fields: Any
) -> envelope_pb2.AgencyEventEnvelope:
    for name, value in fields.items():
        setattr(message, name, value)
    return message


def obstacle(**fields: Any) -> envelope_pb2.AgencyEventEnvelope:
    return envelope(obstacle_raised=fields)


def at(seconds: int, nanos: int = 0) -> envelope_pb2.AgencyEventEnvelope:
    message = obstacle()
    message.occurred_at.seconds = seconds
    message.occurred_at.nanos = nanos
    return message


def at_time(moment: dt.datetime) -> envelope_pb2.AgencyEventEnvelope:
    return at(int(moment.timestamp()))


def submitted_elsewhere(channel: grpc.Channel) -> envelope_pb2.AgencyEventEnvelope:
    """Evidence already on the task, sent again at another uri."""
    first = with_evidence()
    publish(channel, first)
    again = envelope(evidence_submitted={})
    again.evidence.add(
        sha256=first.evidence[0].sha256,
        uri="https://elsewhere.example/x.pdf",
        media_type="application/pdf",
    )
    return again


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


def bad_utf8() -> bytes:
    """An envelope whose note is not UTF-8."""
    data = progress(note="XXXX").SerializeToString()
    return data.replace(b"XXXX", b"\xff\xfe\xfd\xfc")


def lone_surrogate() -> bytes:
    """An envelope whose agency holds a surrogate encoded as UTF-8 (CESU-8)."""
    data = obstacle().SerializeToString()
    return data.replace(LEAD.encode(), b"phuoc-binh.h\xed\xa0\x80lth-post"[: len(LEAD)])


@dataclass(frozen=True)
class EnvelopeCase:
    name: str
    build: Callable[[grpc.Channel], envelope_pb2.AgencyEventEnvelope | bytes]
    code: str
    poison: bool = False


def case(name: str, build: Callable[[], Any], code: str, *, poison: bool = False) -> EnvelopeCase:
    return EnvelopeCase(name, lambda _: build(), code, poison)


ENVELOPES = [
    case(
        "NUL in a note", lambda: progress(note=f"xong{NUL}"), "TEXT_CONTROL_CHARACTER", poison=True
    ),
    case(
        "NUL in the agency",
        lambda: changed(obstacle(), agency_id=f"{LEAD}{NUL}"),
        "TEXT_CONTROL_CHARACTER",
        poison=True,
    ),
    case(
        "NUL in the person",
        lambda: changed(obstacle(), person=f"A{NUL}"),
        "TEXT_CONTROL_CHARACTER",
        poison=True,
    ),
    case(
        "NUL in the subject",
        lambda: changed(obstacle(), subject=f"{TASK}{NUL}"),
        "TEXT_CONTROL_CHARACTER",
        poison=True,
    ),
    case(
        "NUL in the event id",
        lambda: changed(obstacle(), event_id=f"{uuid.uuid4()}{NUL}"),
        "TEXT_CONTROL_CHARACTER",
        poison=True,
    ),
    case(
        "NUL in an obstacle id",
        lambda: obstacle(obstacle_id=f"ob{NUL}"),
        "TEXT_CONTROL_CHARACTER",
        poison=True,
    ),
    case(
        "NUL in a description",
        lambda: obstacle(description=f"a{NUL}b"),
        "TEXT_CONTROL_CHARACTER",
        poison=True,
    ),
    case(
        "NUL in an evidence description",
        lambda: with_evidence(description=NUL),
        "TEXT_CONTROL_CHARACTER",
        poison=True,
    ),
    case(
        "NUL in an evidence uri",
        lambda: with_evidence(uri=f"s3://evidence/a{NUL}.pdf"),
        "TEXT_CONTROL_CHARACTER",
        poison=True,
    ),
    case(
        "NUL in a measured value",
        lambda: measured(value=f"7{NUL}"),
        "TEXT_CONTROL_CHARACTER",
        poison=True,
    ),
    case("escape in a note", lambda: progress(note=f"{ESC}[2J"), "TEXT_CONTROL_CHARACTER"),
    case(
        "a C1 control in the person",
        lambda: changed(obstacle(), person=f"A{NEL}"),
        "TEXT_CONTROL_CHARACTER",
    ),
    case(
        "a carriage return in the agency",
        lambda: changed(obstacle(), agency_id=f"{LEAD}\r"),
        "TEXT_CONTROL_CHARACTER",
    ),
    case(
        "a line feed in an obstacle id",
        lambda: obstacle(obstacle_id="ob\n1"),
        "TEXT_CONTROL_CHARACTER",
    ),
    case(
        "a tab in the agency",
        lambda: changed(obstacle(), agency_id=f"\t{LEAD}"),
        "TEXT_CONTROL_CHARACTER",
    ),
    case("DEL in a note", lambda: progress(note=f"x{DEL}"), "TEXT_CONTROL_CHARACTER"),
    case(
        "a right-to-left override in the person",
        lambda: changed(obstacle(), person=f"A{RLO}B"),
        "TEXT_BIDI_CONTROL",
    ),
    case(
        "a bidi isolate in a description",
        lambda: obstacle(description=f"a{LRI}b"),
        "TEXT_BIDI_CONTROL",
    ),
    case(
        "a right-to-left override in a note",
        lambda: progress(note=f"{RLO}gnol"),
        "TEXT_BIDI_CONTROL",
    ),
    case(
        "a zero-width space in the agency",
        lambda: changed(obstacle(), agency_id=f"phuoc-binh.{ZWSP}health-post"),
        "TEXT_INVISIBLE_CHARACTER",
    ),
    case(
        "a zero-width joiner in an obstacle id",
        lambda: obstacle(obstacle_id=f"ob{ZWJ}1"),
        "TEXT_INVISIBLE_CHARACTER",
    ),
    case(
        "a byte order mark in the person",
        lambda: changed(obstacle(), person=f"{BOM}A"),
        "TEXT_INVISIBLE_CHARACTER",
    ),
    case("an obstacle id in NFD", lambda: obstacle(obstacle_id=nfd("vướng-mắc")), "TEXT_NOT_NFC"),
    case(
        "a subject in NFD",
        lambda: changed(obstacle(), subject=nfd(f"{PB}/task/Điều-1")),
        "TEXT_NOT_NFC",
    ),
    case("a note of 4,001 characters", lambda: progress(note="a" * 4001), "TEXT_TOO_LONG"),
    case("a note of 1 MiB", lambda: progress(note="a" * MIB), "TEXT_TOO_LONG"),
    case(
        "a person of 201 characters", lambda: changed(obstacle(), person="A" * 201), "TEXT_TOO_LONG"
    ),
    case(
        "an event id of 100 KB",
        lambda: changed(obstacle(), event_id="e" * 100_000),
        "TEXT_TOO_LONG",
    ),
    case(
        "an agency of 100 KB", lambda: changed(obstacle(), agency_id="a" * 100_000), "TEXT_TOO_LONG"
    ),
    case(
        "a subject of 100 KB",
        lambda: changed(obstacle(), subject=f"{PB}/task/{'9' * 100_000}"),
        "TEXT_TOO_LONG",
    ),
    case(
        "a description of 2,001 characters",
        lambda: obstacle(description="d" * 2001),
        "TEXT_TOO_LONG",
    ),
    case(
        "an evidence uri of 2,049 characters",
        lambda: with_evidence(uri=f"s3://evidence/{'u' * 2035}"),
        "TEXT_TOO_LONG",
    ),
    case("21 evidence references", lambda: with_evidence(21), "TOO_MANY_EVIDENCE"),
    case("1,000 evidence references", lambda: with_evidence(1000), "TOO_MANY_EVIDENCE"),
    case("a file uri", lambda: with_evidence(uri="file:///../../etc/passwd"), "EVIDENCE_URI"),
    case("a javascript uri", lambda: with_evidence(uri="javascript:alert(1)"), "EVIDENCE_URI"),
    case("a plain http uri", lambda: with_evidence(uri="http://example.com/a.pdf"), "EVIDENCE_URI"),
    case(
        "an https uri without a host", lambda: with_evidence(uri="https:///a.pdf"), "EVIDENCE_URI"
    ),
    case(
        "a uri climbing with ..",
        lambda: with_evidence(uri="s3://evidence/a/../../b"),
        "EVIDENCE_URI",
    ),
    case(
        "a media type without a subtype",
        lambda: with_evidence(media_type="pdf"),
        "INVALID_VALUE",
    ),
    case(
        "a media type of an unknown kind",
        lambda: with_evidence(media_type="chemical/x-pdb"),
        "INVALID_VALUE",
    ),
    case("occurred_at after 9999", lambda: at(253_402_300_800), "TIMESTAMP_OUT_OF_RANGE"),
    case(
        "occurred_at with negative nanos", lambda: at(1_770_000_000, -1), "TIMESTAMP_OUT_OF_RANGE"
    ),
    case("occurred_at before year 1", lambda: at(-62_135_596_801), "TIMESTAMP_OUT_OF_RANGE"),
    case(
        "occurred_at in 2099",
        lambda: at_time(dt.datetime(2099, 1, 1, tzinfo=dt.UTC)),
        "OCCURRED_AT_IN_FUTURE",
    ),
    case(
        "occurred_at an hour ahead",
        lambda: at_time(dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)),
        "OCCURRED_AT_IN_FUTURE",
    ),
    case("occurred_at at epoch 0", lambda: at(0), "OCCURRED_AT_BEFORE_PLAN"),
    case("as_of in 2099", lambda: progress(as_of="2099-01-01"), "AS_OF_OUT_OF_RANGE"),
    case("as_of in 1999", lambda: progress(as_of="1999-01-01"), "AS_OF_OUT_OF_RANGE"),
    case("as_of in the coming year", lambda: progress(as_of="2027-01-01"), "AS_OF_OUT_OF_RANGE"),
    case("as_of as an ISO week date", lambda: progress(as_of="2026-W10-1"), "DATE_INVALID"),
    case("as_of as an ordinal date", lambda: progress(as_of="2026-060"), "DATE_INVALID"),
    case(
        "as_of 0001-01-01", lambda: progress(as_of="0001-01-01"), "DATE_OUT_OF_RANGE", poison=True
    ),
    case(
        "as_of 9999-12-31", lambda: progress(as_of="9999-12-31"), "DATE_OUT_OF_RANGE", poison=True
    ),
    case(
        "a measured as_of 0001-01-01",
        lambda: measured(as_of="0001-01-01"),
        "DATE_OUT_OF_RANGE",
        poison=True,
    ),
    case("a period 1900", lambda: measured(period="1900"), "PERIOD_OUT_OF_RANGE"),
    case("a period 2099-Q1", lambda: measured(period="2099-Q1"), "PERIOD_OUT_OF_RANGE"),
    case("next month's period", lambda: measured(period=next_month()), "PERIOD_OUT_OF_RANGE"),
    case("a percent of 101", lambda: progress(percent=101), "PERCENT_OUT_OF_RANGE"),
    case("a negative percent", lambda: progress(percent=-1), "PERCENT_OUT_OF_RANGE"),
    EnvelopeCase(
        "an evidence hash again at another uri", submitted_elsewhere, "EVIDENCE_DUPLICATE"
    ),
    case("bytes that are no envelope", lambda: b"\xff\xff\xff\xff", "UNDECODABLE"),
    case("an envelope cut short", lambda: obstacle().SerializeToString()[:-5], "UNDECODABLE"),
    case("a note that is not UTF-8", bad_utf8, "UNDECODABLE", poison=True),
    case("a lone surrogate in the agency", lone_surrogate, "UNDECODABLE", poison=True),
]


def publish(
    channel: grpc.Channel, message: envelope_pb2.AgencyEventEnvelope
) -> envelope_pb2.Verdict:
    stub = ingest_service_pb2_grpc.IngestServiceStub(channel)
    request = ingest_service_pb2.PublishRequest(envelope=message)
    verdict = stub.Publish(request, timeout=TIMEOUT).verdict
    assert verdict.outcome == envelope_pb2.OUTCOME_ACCEPTED, verdict
    return verdict


def publish_bytes(channel: grpc.Channel, data: bytes) -> None:
    """A PublishRequest whose envelope is ``data``, as the wire carries it."""
    request = b"\x0a" + varint(len(data)) + data
    call = channel.unary_unary("/lienthong.v1.IngestService/Publish")
    call(request, timeout=TIMEOUT)


def varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def refused(send: Callable[[], Any]) -> tuple[grpc.StatusCode, str, list[str]]:
    """The status code, ErrorInfo reason and BadRequest reasons of a refused call."""
    with pytest.raises(grpc.RpcError) as raised:
        send()
    error = raised.value
    status = status_of(error)
    assert len(status.SerializeToString()) < 16 * 1024
    info = detail(status, error_details_pb2.ErrorInfo)
    reasons = [v.reason for v in detail(status, error_details_pb2.BadRequest).field_violations]
    return error.code(), info.reason, reasons


def healthy_and_landing(site: Site) -> None:
    """The server answers SERVING and a good submission, sent now, is visible."""
    health = health_pb2_grpc.HealthStub(site.channel)
    answer = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=TIMEOUT)
    assert answer.status == health_pb2.HealthCheckResponse.SERVING
    good = obstacle()
    publish(site.channel, good)
    assert good.obstacle_raised.obstacle_id in open_obstacles(site.channel)


def open_obstacles(channel: grpc.Channel) -> list[str]:
    stub = plan_service_pb2_grpc.PlanServiceStub(channel)
    task = stub.GetTask(plan_service_pb2.GetTaskRequest(name=TASK), timeout=TIMEOUT).task
    return list(task.open_obstacles)


def restarted_and_healthy(site: Site) -> None:
    before = open_obstacles(site.channel)
    site.restart()
    healthy_and_landing(site)
    assert set(before) <= set(open_obstacles(site.channel))


@pytest.mark.parametrize("bad", ENVELOPES, ids=[c.name for c in ENVELOPES])
def test_a_bad_envelope_published_over_grpc_is_refused_with_its_code(
    site: Site, bad: EnvelopeCase
) -> None:
    built = bad.build(site.channel)
    if isinstance(built, bytes):
        code, reason, reasons = refused(lambda: publish_bytes(site.channel, built))
    else:
        code, reason, reasons = refused(lambda: publish(site.channel, built))
    conflict = bad.code == "EVIDENCE_DUPLICATE"
    expected = grpc.StatusCode.ALREADY_EXISTS if conflict else grpc.StatusCode.INVALID_ARGUMENT
    assert (code, reason) == (expected, bad.code)
    assert bad.code in reasons
    healthy_and_landing(site)
    if bad.poison:
        restarted_and_healthy(site)


@pytest.mark.parametrize("bad", ENVELOPES, ids=[c.name for c in ENVELOPES])
def test_a_bad_envelope_ingested_from_kafka_is_kept_as_a_refusal_with_its_code(
    site: Site, bad: EnvelopeCase
) -> None:
    built = bad.build(site.channel)
    data = built if isinstance(built, bytes) else signed(built).SerializeToString()
    good = signed(obstacle())
    records = [
        Record(TOPIC, 0, next(site.offsets), value) for value in (data, good.SerializeToString())
    ]
    (_, verdict), (_, landed) = site.ingestor.ingest(records)
    assert (verdict.outcome, verdict.reason_code) == ("rejected", bad.code)
    assert landed.outcome == "accepted", landed
    healthy_and_landing(site)  # its views have applied the log past both records
    assert good.obstacle_raised.obstacle_id in open_obstacles(site.channel)
    if bad.poison:
        restarted_and_healthy(site)


# Requests to every service ----------------------------------------------------------


def plans(channel: grpc.Channel) -> plan_service_pb2_grpc.PlanServiceStub:
    return plan_service_pb2_grpc.PlanServiceStub(channel)


def review(channel: grpc.Channel) -> review_service_pb2_grpc.ReviewServiceStub:
    return review_service_pb2_grpc.ReviewServiceStub(channel)


def audit(channel: grpc.Channel) -> audit_service_pb2_grpc.AuditServiceStub:
    return audit_service_pb2_grpc.AuditServiceStub(channel)


def reviewer(**fields: Any) -> review_service_pb2.Reviewer:
    return review_service_pb2.Reviewer(**{"agency_id": OFFICE, "person": "Lê Thị C", **fields})


def far_stamp() -> Any:
    message = envelope_pb2.AgencyEventEnvelope()
    message.occurred_at.seconds = 253_402_300_800
    return message.occurred_at


def negative_nanos() -> Any:
    message = envelope_pb2.AgencyEventEnvelope()
    message.occurred_at.nanos = -1
    return message.occurred_at


def plan_call(method: str, **fields: Any) -> Callable[[grpc.Channel], Any]:
    request = getattr(plan_service_pb2, f"{method}Request")(**fields)
    return lambda channel: getattr(plans(channel), method)(request, timeout=TIMEOUT)


def review_call(method: str, **fields: Any) -> Callable[[grpc.Channel], Any]:
    def call(channel: grpc.Channel) -> Any:
        values = {"request_id": str(uuid.uuid4()), "reviewer": reviewer(), **fields}
        request = getattr(review_service_pb2, f"{method}Request")(**values)
        return getattr(review(channel), method)(request, timeout=TIMEOUT)

    return call


def audit_call(method: str, **fields: Any) -> Callable[[grpc.Channel], Any]:
    request = getattr(audit_service_pb2, f"{method}Request")(**fields)
    return lambda channel: getattr(audit(channel), method)(request, timeout=TIMEOUT)


def watch(**fields: Any) -> Callable[[grpc.Channel], Any]:
    def call(channel: grpc.Channel) -> Any:
        stub = watch_service_pb2_grpc.WatchServiceStub(channel)
        return next(
            iter(
                stub.WatchChanges(watch_service_pb2.WatchChangesRequest(**fields), timeout=TIMEOUT)
            )
        )

    return call


def stream_log(**fields: Any) -> Callable[[grpc.Channel], Any]:
    def call(channel: grpc.Channel) -> Any:
        request = audit_service_pb2.StreamLogRequest(**fields)
        return list(audit(channel).StreamLog(request, timeout=TIMEOUT))

    return call


def amended(old: bytes, new: bytes) -> bytes:
    """Phước Bình's plan file with its first ``old`` replaced."""
    source = next(p for p in PLANS if p.name.startswith("001")).read_bytes()
    assert old in source
    return source.replace(old, new, 1)


def raw(path: str, data: bytes) -> Callable[[grpc.Channel], Any]:
    return lambda channel: channel.unary_unary(path)(data, timeout=TIMEOUT)


def stream_with(data: bytes) -> Callable[[grpc.Channel], Any]:
    def call(channel: grpc.Channel) -> Any:
        good = ingest_service_pb2.PublishStreamRequest(envelope=obstacle()).SerializeToString()
        method = channel.stream_unary("/lienthong.v1.IngestService/PublishStream")
        return method(iter([good, data]), timeout=TIMEOUT)

    return call


@dataclass(frozen=True)
class RequestCase:
    name: str
    send: Callable[[grpc.Channel], Any]
    code: str
    status: grpc.StatusCode = grpc.StatusCode.INVALID_ARGUMENT
    poison: bool = False


EVIDENCE = hashlib.sha256(b"any").hexdigest()
FAR = "9999-12-31"
# "nope"; "p٣" (a digit, but not an ASCII one); not base64; not a token of ours
NEVER_ISSUED = ("bm9wZQ", "cNmj", "%%%", "zzzz")
REQUESTS = [
    RequestCase(
        "ListTasks: a page token never issued",
        plan_call("ListTasks", plan_id=PB, page_token=NEVER_ISSUED[0]),
        "PAGE_TOKEN_INVALID",
    ),
    RequestCase(
        "ListTasks: a page token of digits in another script",
        plan_call("ListTasks", plan_id=PB, page_token=NEVER_ISSUED[1]),
        "PAGE_TOKEN_INVALID",
    ),
    RequestCase(
        "ListTasks: a page token not base64",
        plan_call("ListTasks", plan_id=PB, page_token=NEVER_ISSUED[2]),
        "PAGE_TOKEN_INVALID",
    ),
    RequestCase(
        "ListEvents: a page token never issued",
        audit_call("ListEvents", plan_id=PB, page_token=NEVER_ISSUED[3]),
        "PAGE_TOKEN_INVALID",
    ),
    RequestCase(
        "ListTasks: NUL in the agency filter",
        plan_call("ListTasks", plan_id=PB, agency_id=NUL),
        "TEXT_CONTROL_CHARACTER",
    ),
    RequestCase(
        "ListPlans: NUL in the ward filter",
        plan_call("ListPlans", ward_id=f"w{NUL}"),
        "TEXT_CONTROL_CHARACTER",
    ),
    RequestCase(
        "ListEvents: NUL in the subject",
        audit_call("ListEvents", subject=f"{TASK}{NUL}"),
        "TEXT_CONTROL_CHARACTER",
    ),
    RequestCase(
        "GetTask: a name of 100 KB", plan_call("GetTask", name="x" * 100_000), "TEXT_TOO_LONG"
    ),
    RequestCase(
        "GetPlan: an id in NFD", plan_call("GetPlan", plan_id=nfd("phước-bình")), "TEXT_NOT_NFC"
    ),
    RequestCase(
        "ListTasks: as_of 9999-12-31",
        plan_call("ListTasks", plan_id=PB, as_of=FAR),
        "DATE_OUT_OF_RANGE",
    ),
    RequestCase(
        "GetTask: as_of 9999-12-31", plan_call("GetTask", name=TASK, as_of=FAR), "DATE_OUT_OF_RANGE"
    ),
    RequestCase(
        "GetPlanStatus: as_of 9999-12-31",
        plan_call("GetPlanStatus", plan_id=PB, as_of=FAR),
        "DATE_OUT_OF_RANGE",
    ),
    RequestCase(
        "ListRedFlags: as_of 9999-12-31",
        plan_call("ListRedFlags", plan_id=PB, as_of=FAR),
        "DATE_OUT_OF_RANGE",
    ),
    RequestCase(
        "ListScorecards: as_of 9999-12-31",
        plan_call("ListScorecards", plan_id=PB, as_of=FAR),
        "DATE_OUT_OF_RANGE",
    ),
    RequestCase(
        "GetDependencies: as_of 9999-12-31",
        plan_call("GetDependencies", plan_id=PB, as_of=FAR),
        "DATE_OUT_OF_RANGE",
    ),
    RequestCase(
        "ListBottlenecks: as_of 9999-12-31",
        plan_call("ListBottlenecks", as_of=FAR),
        "DATE_OUT_OF_RANGE",
    ),
    RequestCase(
        "ListRollups: as_of 9999-12-31",
        plan_call("ListRollups", by=plan_service_pb2.ROLLUP_BY_PLAN, as_of=FAR),
        "DATE_OUT_OF_RANGE",
    ),
    RequestCase(
        "ListPeriodSummaries: as_of 0001-01-01",
        plan_call("ListPeriodSummaries", plan_id=PB, as_of="0001-01-01"),
        "DATE_OUT_OF_RANGE",
    ),
    RequestCase(
        "GetPlanStatus: as_of as a week date",
        plan_call("GetPlanStatus", plan_id=PB, as_of="2026-W10"),
        "DATE_INVALID",
    ),
    RequestCase(
        "ListPeriodSummaries: year 100000",
        plan_call("ListPeriodSummaries", plan_id=PB, year=100_000),
        "YEAR_OUT_OF_RANGE",
    ),
    RequestCase(
        "ListPeriodSummaries: year -1",
        plan_call("ListPeriodSummaries", plan_id=PB, year=-1),
        "YEAR_OUT_OF_RANGE",
    ),
    RequestCase(
        "ListIndicatorRollups: year 100000",
        plan_call("ListIndicatorRollups", year="100000"),
        "YEAR_OUT_OF_RANGE",
    ),
    RequestCase(
        "ListIndicatorRollups: year -1",
        plan_call("ListIndicatorRollups", year="-1"),
        "YEAR_OUT_OF_RANGE",
    ),
    RequestCase(
        "GetDependencies: a window of 2^31-1 days",
        plan_call("GetDependencies", plan_id=PB, window_days=2**31 - 1),
        "WINDOW_OUT_OF_RANGE",
    ),
    RequestCase(
        "GetDependencies: a negative window",
        plan_call("GetDependencies", plan_id=PB, window_days=-1),
        "WINDOW_OUT_OF_RANGE",
    ),
    RequestCase(
        "ListEvents: start_time after 9999",
        audit_call("ListEvents", plan_id=PB, start_time=far_stamp()),
        "TIMESTAMP_OUT_OF_RANGE",
    ),
    RequestCase(
        "ListPlans: as_known_at after 9999",
        plan_call("ListPlans", as_known_at=far_stamp()),
        "TIMESTAMP_OUT_OF_RANGE",
    ),
    RequestCase(
        "GetTask: as_known_at in the year 9000, after the server's clock",
        plan_call("GetTask", name=TASK, as_known_at=Timestamp(seconds=221_845_392_000)),
        "KNOWN_AT_IN_FUTURE",
    ),
    RequestCase(
        "GetIndicator: as_of as a week date",
        plan_call("GetIndicator", name=f"{PB}/indicator/3.2", as_of="2026-W10"),
        "DATE_INVALID",
    ),
    RequestCase(
        "GetPlanStatusAsOf: known_at with negative nanos",
        audit_call("GetPlanStatusAsOf", plan_id=PB, known_at=negative_nanos()),
        "TIMESTAMP_OUT_OF_RANGE",
    ),
    RequestCase(
        "ListCorrections: neither a plan nor an agency",
        audit_call("ListCorrections", recorded_after=Timestamp(seconds=1)),
        "ONE_OF_REQUIRED",
    ),
    RequestCase(
        "ListCorrections: both a plan and an agency",
        audit_call("ListCorrections", plan_id=PB, agency_id=OFFICE, recorded_after=Timestamp()),
        "ONE_OF_REQUIRED",
    ),
    RequestCase(
        "ListCorrections: a task for a plan",
        audit_call("ListCorrections", plan_id=TASK, recorded_after=Timestamp(seconds=1)),
        "NOT_A_PLAN",
    ),
    RequestCase(
        "ListCorrections: recorded_after after 9999",
        audit_call("ListCorrections", plan_id=PB, recorded_after=far_stamp()),
        "TIMESTAMP_OUT_OF_RANGE",
    ),
    RequestCase(
        "GetInspection: as_of not a day",
        audit_call("GetInspection", plan_id=PB, as_of="30/06/2026", known_at=Timestamp()),
        "DATE_INVALID",
    ),
    RequestCase(
        "GetInspection: a task for a plan",
        audit_call("GetInspection", plan_id=TASK, as_of="2026-06-30", known_at=Timestamp()),
        "NOT_A_PLAN",
    ),
    RequestCase(
        "AcceptEvidence: a reviewer at a time after 9999",
        review_call(
            "AcceptEvidence",
            subject=TASK,
            sha256=EVIDENCE,
            reviewer=reviewer(occurred_at=far_stamp()),
        ),
        "TIMESTAMP_OUT_OF_RANGE",
    ),
    RequestCase(
        "AcceptEvidence: NUL in the reviewer's person",
        review_call(
            "AcceptEvidence", subject=TASK, sha256=EVIDENCE, reviewer=reviewer(person=f"C{NUL}")
        ),
        "TEXT_CONTROL_CHARACTER",
    ),
    RequestCase(
        "RejectEvidence: a reason of 1 MiB",
        review_call("RejectEvidence", subject=TASK, sha256=EVIDENCE, reason="r" * MIB),
        "TEXT_TOO_LONG",
    ),
    RequestCase(
        "ConfirmCompletion: NUL in the note",
        review_call("ConfirmCompletion", subject=TASK, note=NUL),
        "TEXT_CONTROL_CHARACTER",
    ),
    RequestCase(
        "ChangeDeadline: NUL in the document",
        review_call(
            "ChangeDeadline", subject=TASK, deadline="Quý II/2026", reason="x", document=f"CV{NUL}"
        ),
        "TEXT_CONTROL_CHARACTER",
    ),
    RequestCase(
        "DeclareDependency: an override in the reason",
        review_call(
            "DeclareDependency",
            plan_id=PB,
            upstream_task="21",
            downstream_task="24",
            reason=f"{RLO}x",
        ),
        "TEXT_BIDI_CONTROL",
    ),
    RequestCase(
        "DeclareDependency: a zero-width space in a task key",
        review_call(
            "DeclareDependency",
            plan_id=PB,
            upstream_task=f"2{ZWSP}1",
            downstream_task="24",
            reason="x",
        ),
        "TEXT_INVISIBLE_CHARACTER",
    ),
    RequestCase(
        "AcceptEvidence: a request id of 100 KB",
        review_call("AcceptEvidence", subject=TASK, sha256=EVIDENCE, request_id="r" * 100_000),
        "TEXT_TOO_LONG",
    ),
    RequestCase(
        "AmendPlan: a plan file that is not UTF-8",
        review_call("AmendPlan", plan_file=b"\xff\xfe\x00garbage", reason="x"),
        "FILE_UNREADABLE",
    ),
    RequestCase(
        "AmendPlan: a plan file holding NUL",
        review_call("AmendPlan", plan_file=b"format: lienthong.plan/v1\nplan:\x00\n", reason="x"),
        "YAML_SYNTAX",
    ),
    RequestCase(
        "AmendPlan: a plan file that is not YAML",
        review_call("AmendPlan", plan_file=b"{[}: :", reason="x"),
        "YAML_SYNTAX",
    ),
    RequestCase(
        "AmendPlan: a plan file with an escaped NUL in its title",
        review_call(
            "AmendPlan", plan_file=amended(b'  title: "Tri', b'  title: "\\0Tri'), reason="x"
        ),
        "TEXT_CONTROL_CHARACTER",
        poison=True,
    ),
    RequestCase(
        "AmendPlan: a plan file with an override in a unit's name",
        review_call(
            "AmendPlan",
            plan_file=amended(b'lead_text: "C', b'lead_text: "\\u202eC'),
            reason="x",
        ),
        "TEXT_BIDI_CONTROL",
    ),
    RequestCase(
        "WatchChanges: a plan that does not exist",
        watch(plan_id="no-such-plan-2026"),
        "NOT_FOUND",
        grpc.StatusCode.NOT_FOUND,
    ),
    RequestCase("WatchChanges: NUL in the agency", watch(agency_id=NUL), "TEXT_CONTROL_CHARACTER"),
    RequestCase(
        "WatchChanges: a position before the log",
        watch(plan_id=PB, from_position=-1),
        "POSITION_OUT_OF_RANGE",
    ),
    RequestCase(
        "StreamLog: a position before the log",
        stream_log(from_position=-5, stop_at_end=True),
        "POSITION_OUT_OF_RANGE",
    ),
    RequestCase(
        "ListTasks: bytes that are no request",
        raw("/lienthong.v1.PlanService/ListTasks", b"\xff\xff\xff"),
        "UNDECODABLE",
    ),
    RequestCase(
        "GetPlan: an id that is not UTF-8",
        raw("/lienthong.v1.PlanService/GetPlan", b"\x0a\x02\xff\xfe"),
        "UNDECODABLE",
    ),
    RequestCase(
        "WatchChanges: bytes that are no request",
        raw("/lienthong.v1.WatchService/WatchChanges", b"\x0a\x05ab"),
        "UNDECODABLE",
    ),
    RequestCase(
        "PublishStream: one request that is no request", stream_with(b"\xff\xff"), "UNDECODABLE"
    ),
]


@pytest.mark.parametrize("bad", REQUESTS, ids=[c.name for c in REQUESTS])
def test_a_bad_request_is_refused_with_its_code(site: Site, bad: RequestCase) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        bad.send(site.channel)
    error = raised.value
    status = status_of(error)
    assert len(status.SerializeToString()) < 16 * 1024
    assert error.code() == bad.status
    assert detail(status, error_details_pb2.ErrorInfo).reason == bad.code
    healthy_and_landing(site)
    if bad.poison:
        restarted_and_healthy(site)


def test_the_corpus_holds_at_least_a_hundred_cases_each_code_documented() -> None:
    assert 2 * len(ENVELOPES) + len(REQUESTS) >= 100
    codes = {c.code for c in ENVELOPES} | {c.code for c in REQUESTS} | {"VIEWS_STOPPED"}
    assert codes <= documented_codes()


# A view that meets an event it cannot apply --------------------------------------


def test_views_that_meet_an_event_they_cannot_apply_stop_loudly(
    server: ServerThread, channel: grpc.Channel
) -> None:
    """An event the edge would refuse, stored by the application itself (as an older
    version could have): health turns NOT_SERVING and a write that waits for the
    views answers UNAVAILABLE (VIEWS_STOPPED), never ACCEPTED-then-invisible."""
    app = server.app
    actor = Actor(LEAD, channel="test", message_id=str(uuid.uuid4()))
    args = {"percent": 40, "as_of": dt.date(2026, 3, 1), "note": f"xong{NUL}"}
    app.save(app.prepare("progress_reported", TASK, actor, args))
    health = health_pb2_grpc.HealthStub(channel)
    watched = health.Watch(health_pb2.HealthCheckRequest(service=""), timeout=TIMEOUT)
    statuses = (answer.status for answer in watched)
    assert health_pb2.HealthCheckResponse.NOT_SERVING in statuses
    watched.cancel()
    with pytest.raises(grpc.RpcError) as raised:
        publish(channel, obstacle())
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    assert detail(status_of(raised.value), error_details_pb2.ErrorInfo).reason == "VIEWS_STOPPED"


EDGES = ("1970-01-01", "2199-12-31")
QUERIES = [
    ("ListPlans", {}),
    ("GetPlan", {"plan_id": PB}),
    ("ListIndicators", {"plan_id": PB}),
    ("GetIndicator", {"name": f"{PB}/indicator/3.2"}),
    ("ListIndicatorRollups", {}),
    ("ListTasks", {"plan_id": PB}),
    ("GetTask", {"name": TASK}),
    ("GetPlanStatus", {"plan_id": PB}),
    ("ListRedFlags", {"plan_id": PB, "include_cleared": True}),
    ("ListScorecards", {"plan_id": PB}),
    ("GetDependencies", {"plan_id": PB, "window_days": 3660}),
    ("ListBottlenecks", {}),
    ("ListRollups", {"by": plan_service_pb2.ROLLUP_BY_AGENCY}),
    ("ListPeriodSummaries", {"plan_id": PB}),
]


@pytest.mark.parametrize(("method", "fields"), QUERIES, ids=[q[0] for q in QUERIES])
@pytest.mark.parametrize("day", EDGES)
def test_every_query_answers_on_the_first_and_last_day_a_request_may_name(
    site: Site, method: str, fields: dict[str, Any], day: str
) -> None:
    plan_call(method, **fields, as_of=day)(site.channel)

"""The demo: import the four ward plans and play a scripted first quarter of 2026
over the wire, over mutual TLS, every message signed.

On first run it makes a throwaway certificate authority and a certificate and key for
every agency (:mod:`services.app.pki`, in ``$LIENTHONG_PKI_DIR``, default
``.lienthong/pki``), and registers each agency's key in the store as an operator
would (``operator:demo``). It starts the gRPC server on the embedded store with the
authority's server certificate, and sends every step as an agency system or the
coordination office would — each over a TLS channel with the acting agency's own
client certificate, each envelope (to IngestService) and review request (to
ReviewService) signed with that agency's key — then reads, as the coordination
office, each plan's consolidated status back from PlanService:
progress reports, KPI measurements, evidence accepted and rejected, an obstacle, a
deadline change, a correction, a dependency (and a refused cycle), and the
separation of duties: the office's own task reviewed by the steering committee, a
lead that monitors its own KPI refused its own approval, a collective refused and one
of its members reporting instead. Last, two impersonations a hostile client would try
(the police's certificate publishing in the office's name, an unsigned envelope),
each reported with the verdict the server gives. Each step has a fixed message id, so
running the demo again finds the quarter already played.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import yaml
from google.protobuf import json_format
from google.rpc import error_details_pb2, status_pb2
from lienthong.v1 import envelope_pb2, resources_pb2
from lienthong.v1 import ingest_service_pb2 as ingest_pb
from lienthong.v1 import ingest_service_pb2_grpc as ingest_pb_grpc
from lienthong.v1 import plan_service_pb2 as plan_pb
from lienthong.v1 import plan_service_pb2_grpc as plan_pb_grpc
from lienthong.v1 import review_service_pb2 as review_pb
from lienthong.v1 import review_service_pb2_grpc as review_pb_grpc

from dashboard.settings import DashboardSettings
from domain.clock import WARD_TIME
from domain.ids import NAMESPACE
from domain.items import ItemStatus
from domain.keys import KeyAlreadyRegisteredError, Role
from domain.reporting import period_from_label
from domain.submission import submission_id
from lienthong_sdk.identity import Identity, Signer
from services.app.audit import (
    key_file,
    load_signer,
    log_tree,
    make_checkpoint,
    open_checkpoint,
    verify_log,
)
from services.app.checkpointer import Checkpointer, LogLimits
from services.app.identity import TrustAnchors, anchors_file, pki_dir, register_key
from services.app.importer import import_plans
from services.app.ledger import Actor, Ledger
from services.app.pki import identity_files, init_pki, roles_of
from services.app.submissions import receipt_of
from services.grpc.server import ServerSettings, start_server
from services.reports import FORMATS, render
from services.reports.gather import report_on_store
from services.store.database import DATA_DIR_ENV, DEFAULT_DATA_DIR

SCRIPT_ID = "demo-2026q1"
CALL_TIMEOUT = 30
READY_TIMEOUT = 120
REPORT_DAY = dt.date(2026, 4, 1)  # the morning after the quarter
MAX_PAGE = 500  # every flag of a plan in one page
PB = "phuoc-binh-2026"
DM = "da-mai-2026"
BP = "binh-phuoc-2026"
BL = "binh-long-2026"
OPERATOR = Actor(agency="operator:demo", channel="cli")  # who registers the agencies' keys
READER = "phuoc-binh.vhxh"  # the coordination office reads the status back
REPORTS_DIR_ENV = "LIENTHONG_REPORTS_DIR"
REPORT_PERIOD = "2026-Q1"  # the demo ends with each plan's report of its quarter


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
    Step("2026-02-27", "phuoc-binh.vhxh", "completion_claimed", f"{PB}/task/3", {"note": "Đã ban hành"}, evidence=(evidence("pb-qd-12.pdf", "Quyết định số 12/QĐ-UBND đã ký"),)),
    # VHXH may not approve its own work: its own items go to the steering committee.
    Step("2026-03-02", "phuoc-binh.vhxh", "evidence_accepted", f"{PB}/task/3", {"sha256": sha("pb-qd-12.pdf"), "quality": "good"}, expect_refusal="SELF_REVIEW"),
    Step("2026-03-02", "phuoc-binh.steering-committee", "evidence_accepted", f"{PB}/task/3", {"sha256": sha("pb-qd-12.pdf"), "quality": "good"}),
    Step("2026-03-02", "phuoc-binh.steering-committee", "completion_confirmed", f"{PB}/task/3", {"note": "Minh chứng hợp lệ"}),
    # The service centre claims task 8 with an unsigned scan: rejected, "Chờ hoàn thiện".
    Step("2026-02-10", "phuoc-binh.ttpvhcc", "progress_reported", f"{PB}/task/8", {"percent": 70}),
    Step("2026-03-05", "phuoc-binh.ttpvhcc", "evidence_submitted", f"{PB}/task/8", evidence=(evidence("pb-hd-quy-trinh.pdf", "Văn bản hướng dẫn số hóa quy trình"),)),
    Step("2026-03-05", "phuoc-binh.ttpvhcc", "completion_claimed", f"{PB}/task/8", evidence=(evidence("pb-hd-quy-trinh.pdf", "Văn bản hướng dẫn số hóa quy trình"),)),
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
    # The health post leads and monitors KPI 7: at 71.5% against "≥ 90" it may not claim
    # it "Hoàn thành", nor may it ever approve itself.
    Step("2026-03-31", "phuoc-binh.health-post", "completion_claimed", f"{PB}/indicator/7", evidence=(evidence("pb-sskdt-q1.pdf", "Báo cáo sổ sức khỏe điện tử quý I"),), expect_refusal="KPI_TARGET_NOT_MET"),
    Step("2026-03-31", "phuoc-binh.health-post", "evidence_accepted", f"{PB}/indicator/7", {"sha256": sha("pb-sskdt-q1.pdf"), "quality": "good"}, expect_refusal="SELF_REVIEW"),
    # "Các cơ quan, đơn vị" never reports in its own name; its members do.
    Step("2026-03-20", "phuoc-binh.all-agencies", "progress_reported", f"{PB}/task/7", {"percent": 30}, expect_refusal="COLLECTIVE_CANNOT_ACT|AGENCY_NOT_CALLER|KEY_NOT_OF_AGENCY"),
    Step("2026-03-20", "phuoc-binh.police", "progress_reported", f"{PB}/task/7", {"percent": 30, "note": "Rà soát văn bản về an ninh trật tự"}),
    # Đa Mai: the People's Committee issues its implementing plan before 15/02/2026.
    Step("2026-02-12", "da-mai.ubnd", "progress_reported", f"{DM}/task/IV.5", {"percent": 100}),
    Step("2026-02-12", "da-mai.ubnd", "evidence_submitted", f"{DM}/task/IV.5", evidence=(evidence("dm-kh-21.pdf", "Kế hoạch số 21/KH-UBND đã ký"),)),
    Step("2026-02-12", "da-mai.ubnd", "completion_claimed", f"{DM}/task/IV.5", evidence=(evidence("dm-kh-21.pdf", "Kế hoạch số 21/KH-UBND đã ký"),)),
    Step("2026-02-13", "da-mai.steering-committee", "evidence_accepted", f"{DM}/task/IV.5", {"sha256": sha("dm-kh-21.pdf"), "quality": "adequate"}),
    Step("2026-02-13", "da-mai.steering-committee", "completion_confirmed", f"{DM}/task/IV.5"),
    Step("2026-03-15", "da-mai.ubnd", "progress_reported", f"{DM}/task/6", {"percent": 50}),
    Step("2026-03-31", "da-mai.ubnd", "indicator_measured", f"{DM}/indicator/E.11", {"value": "58", "unit": "%", "period": "2026-Q1"}),
    # Bình Phước and Bình Long: VNeID rates.
    Step("2026-03-31", "binh-phuoc.party-office", "indicator_measured", f"{BP}/indicator/1.4.16", {"value": "76", "unit": "%", "period": "2026-Q1"}),
    Step("2026-03-31", "binh-long.party-office", "indicator_measured", f"{BL}/indicator/1.1.6", {"value": "61", "unit": "%", "period": "2026-Q1"}),
    Step("2026-03-18", "binh-long.party-office", "progress_reported", f"{BL}/task/III.3.a", {"percent": 60}),
)
# fmt: on


@dataclass(frozen=True)
class Forgery:
    """What a hostile client tries: ``step`` (in the name it states) sent over the
    TLS channel of ``sender``'s certificate, signed with ``signer``'s key (None:
    unsigned). Each is a report the domain would refuse anyway (progress going down
    without a correction), so nothing changes even where no identity is checked. Each
    run tries them with fresh ids (an ECDSA signature differs at every signing, so a
    fixed id would meet IDEMPOTENCY_KEY_REUSED instead of the check of who sent it)."""

    what: str
    sender: str
    signer: str | None
    step: Step
    expect: tuple[str, ...]


FORGERIES: tuple[Forgery, ...] = (
    Forgery(
        "the police's certificate publishing in the office's name",
        "phuoc-binh.police",
        "phuoc-binh.police",
        Step(
            "2026-03-28",
            "phuoc-binh.vhxh",
            "progress_reported",
            f"{PB}/task/4",
            {"percent": 10, "note": "Báo cáo giả mạo"},
        ),
        ("AGENCY_NOT_CALLER", "KEY_NOT_OF_AGENCY"),
    ),
    Forgery(
        "an unsigned envelope over the health post's own certificate",
        "phuoc-binh.health-post",
        None,
        Step(
            "2026-03-28",
            "phuoc-binh.health-post",
            "progress_reported",
            f"{PB}/task/24",
            {"percent": 20},
        ),
        ("SIGNATURE_MISSING",),
    ),
)


class Identities:
    """The demo's identities, from the throwaway authority's folder: per identity one
    client channel (mutual TLS with its certificate), made on first use and kept, and
    one signer. A collective has no certificate (it never acts in its own name): what
    the script sends in its name goes over a member's channel, signed by that member."""

    def __init__(self, folder: Path, roles: dict[str, Role], registry: Path) -> None:
        self.folder = folder
        self.roles = roles
        self.members: dict[str, list[str]] = {
            a["id"]: [m for m in a.get("members") or () if m in roles]
            for a in yaml.safe_load(registry.read_text(encoding="utf-8"))["agencies"]
        }
        self.target = ""
        self.channels: dict[str, grpc.aio.Channel] = {}
        self.signers: dict[str, Signer] = {}

    def sender(self, agency: str) -> str:
        """Whose certificate carries what ``agency`` sends."""
        if agency in self.roles:
            return agency
        members = sorted(self.members.get(agency) or (), key=lambda m: self.roles[m] != Role.AGENCY)
        return next(iter(members), READER)

    def identity(self, name: str) -> Identity:
        files = identity_files(self.folder, name, self.roles[name])
        return Identity.from_files(files.certificate, files.key, self.folder / "ca.pem")

    def channel(self, name: str) -> grpc.aio.Channel:
        if name not in self.channels:
            credentials = self.identity(name).channel_credentials()
            self.channels[name] = grpc.aio.secure_channel(self.target, credentials)
        return self.channels[name]

    def signer(self, name: str) -> Signer:
        if name not in self.signers:
            self.signers[name] = self.identity(name).signer()
        return self.signers[name]

    async def connect(self, target: str, out: Callable[[str], None]) -> None:
        """Wait for the server at ``target`` to answer over mutual TLS (the reader's
        channel gets ready); a server that does not is an error, never plaintext."""
        self.target = target
        try:
            await asyncio.wait_for(self.channel(READER).channel_ready(), timeout=READY_TIMEOUT)
        except TimeoutError:
            msg = f"no gRPC server answered over mutual TLS on {target} within {READY_TIMEOUT} s"
            raise TimeoutError(msg) from None
        out(f"  over mutual TLS: each agency with its own certificate from {self.folder}")

    async def close(self) -> None:
        for channel in self.channels.values():
            await channel.close()
        self.channels.clear()


def enrol(
    app: Ledger, plans: Sequence[Path], registry: Path, out: Callable[[str], None]
) -> Identities:
    """The throwaway authority and every agency's certificate (made once), and every
    agency's key registered in the store (once; as the operator ``operator:demo``)."""
    folder = pki_dir()
    roles = roles_of(registry, plans)
    if init_pki(folder, roles):
        out(f"Made a throwaway certificate authority and {len(roles) + 2} identities in {folder}")
    anchors = TrustAnchors.load(anchors_file())
    registered = 0
    for name, role in sorted(roles.items()):
        files = identity_files(folder, name, role)
        if not files.certificate.exists():
            out(f"  no certificate for {name} in {folder} (an agency newer than the authority)")
            continue
        try:
            register_key(app, files.certificate.read_bytes(), anchors, OPERATOR)
        except KeyAlreadyRegisteredError:
            continue
        registered += 1
    out(f"  {registered} agency key(s) registered by {OPERATOR.agency} ({len(roles)} agencies)")
    return Identities(folder, roles, registry)


REVIEWS: dict[str, tuple[str, Any]] = {
    "evidence_accepted": ("AcceptEvidence", review_pb.AcceptEvidenceRequest),
    "evidence_rejected": ("RejectEvidence", review_pb.RejectEvidenceRequest),
    "completion_confirmed": ("ConfirmCompletion", review_pb.ConfirmCompletionRequest),
    "deadline_changed": ("ChangeDeadline", review_pb.ChangeDeadlineRequest),
    "dependency_declared": ("DeclareDependency", review_pb.DeclareDependencyRequest),
}
DATED = ("progress_reported", "contribution_reported", "indicator_measured")
RENAMED = {"upstream": "upstream_task", "downstream": "downstream_task"}


def event_id(index: int) -> str:
    """The step's fixed event (or request) id, so a second run finds it recorded."""
    return str(uuid.uuid5(NAMESPACE, f"{SCRIPT_ID}:{index:02d}"))


def occurred_at(step: Step) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(step.day), dt.time(9), WARD_TIME)


def wire_fields(step: Step) -> dict[str, Any]:
    fields = {RENAMED.get(k, k): v for k, v in step.args.items()}
    if step.command in DATED:
        fields["as_of"] = step.day
    if "quality" in fields:
        fields["quality"] = f"EVIDENCE_QUALITY_{fields['quality'].upper()}"
    if step.command == "obstacle_raised":
        fields["kind"] = f"OBSTACLE_KIND_{fields['kind'].upper()}"
    return fields


def step_envelope(step: Step, index: int) -> envelope_pb2.AgencyEventEnvelope:
    """What an agency system sends for a step, through IngestService."""
    document = {
        "event_id": event_id(index),
        "agency_id": step.agency,
        "subject": step.target,
        "occurred_at": occurred_at(step).isoformat(),
        "evidence": list(step.evidence),
        step.command: wire_fields(step),
    }
    return json_format.ParseDict(document, envelope_pb2.AgencyEventEnvelope())


def review_request(step: Step, index: int) -> Any:
    """What the coordination office sends for a step, through ReviewService."""
    _, request_class = REVIEWS[step.command]
    reviewer = review_pb.Reviewer(agency_id=step.agency)
    reviewer.occurred_at.FromDatetime(occurred_at(step))
    where = "plan_id" if step.command.startswith("dependency") else "subject"
    document = {**wire_fields(step), where: step.target}
    request = json_format.ParseDict(document, request_class())
    request.request_id = event_id(index)
    request.reviewer.CopyFrom(reviewer)
    return request


def refusal_code(error: grpc.aio.AioRpcError) -> str:
    """The domain error code a refused call carries (its ErrorInfo reason)."""
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            for detail in status_pb2.Status.FromString(value).details:
                info = error_details_pb2.ErrorInfo()
                if detail.Unpack(info):
                    return str(info.reason)
    return str(error.code().name)


def signed_request(step: Step, index: int, signer: Signer | None) -> Any:
    """The step's message (an envelope or a review request), signed by ``signer``."""
    message = review_request(step, index) if step.command in REVIEWS else step_envelope(step, index)
    return message if signer is None else signer.sign(message)


async def deliver(channel: grpc.aio.Channel, step: Step, message: Any) -> None:
    if step.command in REVIEWS:
        method = getattr(review_pb_grpc.ReviewServiceStub(channel), REVIEWS[step.command][0])
        await method(message, timeout=CALL_TIMEOUT)
    else:
        request = ingest_pb.PublishRequest(envelope=message)
        await ingest_pb_grpc.IngestServiceStub(channel).Publish(request, timeout=CALL_TIMEOUT)


async def send(identities: Identities, step: Step, index: int) -> str:
    """Send one step over the wire, as the agency it names (over the channel of its
    certificate, signed with its key); returns a line describing the outcome."""
    sender = identities.sender(step.agency)
    line = f"  {step.day} {step.agency:<28} {step.command} {step.target}"
    if sender != step.agency:
        line += f" (sent by {sender})"
    message = signed_request(step, index, identities.signer(sender))
    try:
        await deliver(identities.channel(sender), step, message)
    except grpc.aio.AioRpcError as error:
        code = refusal_code(error)
        if code not in step.expect_refusal.split("|"):
            raise
        return f"{line}: refused {code} ✓"
    if step.expect_refusal:
        msg = f"step {index} should have been refused with {step.expect_refusal}"
        raise AssertionError(msg)
    return line


async def try_forgery(identities: Identities, forgery: Forgery) -> str:
    """Send a forgery; a line with the verdict it got (never raises on a verdict)."""
    step = forgery.step
    signer = identities.signer(forgery.signer) if forgery.signer else None
    message = step_envelope(step, 0)  # an envelope: the forgeries go to IngestService
    message.event_id = str(uuid.uuid4())
    if signer is not None:
        signer.sign(message)
    line = f"  {forgery.what}: {step.command} {step.target} as {step.agency}"
    expected = " or ".join(forgery.expect)
    try:
        await deliver(identities.channel(forgery.sender), step, message)
    except grpc.aio.AioRpcError as error:
        code = refusal_code(error)
        if code in forgery.expect:
            return f"{line}: refused {code} ✓"
        return f"{line}: refused {code}, not for who sent it (expected {expected}) ✗"
    return f"{line}: ACCEPTED (expected {expected}) ✗"


async def play_through(identities: Identities, app: Ledger, out: Callable[[str], None]) -> None:
    """Play the quarter (unless played before) and the forgeries, then print the
    status as the coordination office reads it."""
    first = submission_id(SCRIPT[0].agency, event_id(0))  # its receipt, once played
    if await asyncio.to_thread(receipt_of, app, first):
        out("The scripted quarter was already played in this store.")
    else:
        out(
            f"Playing the scripted quarter ({len(SCRIPT)} steps) through IngestService and"
            " ReviewService, each step signed by the agency it names …"
        )
        for index, step in enumerate(SCRIPT):
            out(await send(identities, step, index))
    out("Impersonation, as a hostile client would try it:")
    for forgery in FORGERIES:
        out(await try_forgery(identities, forgery))
    channel = identities.channel(READER)
    out(f"Reading the status as {READER} (the coordination office) …")
    plans = plan_pb_grpc.PlanServiceStub(channel)
    listing = await plans.ListPlans(plan_pb.ListPlansRequest(), timeout=CALL_TIMEOUT)
    for plan in listing.plans:
        request = plan_pb.GetPlanStatusRequest(plan_id=plan.plan_id, as_of=REPORT_DAY.isoformat())
        reply = await plans.GetPlanStatus(request, timeout=CALL_TIMEOUT)
        for line in render_status(reply.status):
            out(line)
        flags = await plans.ListRedFlags(
            plan_pb.ListRedFlagsRequest(
                plan_id=plan.plan_id, as_of=REPORT_DAY.isoformat(), page_size=MAX_PAGE
            ),
            timeout=CALL_TIMEOUT,
        )
        for line in render_flags(flags.flags):
            out(line)
    as_of = REPORT_DAY.isoformat()
    held = await plans.ListBottlenecks(
        plan_pb.ListBottlenecksRequest(as_of=as_of), timeout=CALL_TIMEOUT
    )
    ranked = await plans.ListScorecards(
        plan_pb.ListScorecardsRequest(as_of=as_of), timeout=CALL_TIMEOUT
    )
    for line in render_office_view(held.bottlenecks, ranked.scorecards):
        out(line)


def tls_settings(registry: Path, folder: Path) -> ServerSettings:
    """An in-process server on a free loopback port, with the authority's server
    certificate, trusting the authority's client certificates."""
    return ServerSettings(
        address="127.0.0.1:0",
        registry=(registry,),
        certificate=folder / "server.pem",
        private_key=folder / "server.key",
        trust_anchors=anchors_file(),
    )


async def play_over_the_wire(
    app: Ledger,
    registry: Path,
    identities: Identities,
    out: Callable[[str], None],
    target: str = "",
) -> None:
    """Play against the server at ``target`` — or, by default, start one in-process."""
    if target:
        out(f"Playing against the gRPC API at {target}")
        try:
            await identities.connect(target, out)
            await play_through(identities, app, out)
        finally:
            await identities.close()
        return
    follower = Checkpointer(log_tree(app.recorder), load_signer(key_file()), LogLimits.from_env())
    running = await start_server(
        app, tls_settings(registry, identities.folder), checkpointer=follower
    )
    out(f"gRPC API listening on 127.0.0.1:{running.port}")
    try:
        await identities.connect(f"127.0.0.1:{running.port}", out)
        await play_through(identities, app, out)
    finally:
        await identities.close()
        await running.stop(1)


def play(
    app: Ledger, plans_dir: Path, registry: Path, out: Callable[[str], None], target: str = ""
) -> None:
    plans = sorted(plans_dir.glob("*.yaml"))
    out(f"Importing the plans in {plans_dir} …")
    report = import_plans(app, plans, registry, progress=lambda m: out(f"  {m}"))
    out(f"  {report.events} event(s) recorded, {report.agencies_registered} agencies registered")
    out("Identities: every agency's certificate and signing key …")
    identities = enrol(app, plans, registry, out)
    asyncio.run(play_over_the_wire(app, registry, identities, out, target))
    checkpoint_and_verify(app, out)
    write_reports(app, reports_dir(), out)
    out(f"Dashboard: `make serve`, then `make dashboard` → http://{DashboardSettings.from_env().address}/")


def reports_dir() -> Path:
    """Where the demo writes its reports: ``$LIENTHONG_REPORTS_DIR``, else ``reports``
    in the data directory (``.lienthong/reports``)."""
    named = os.environ.get(REPORTS_DIR_ENV, "").strip()
    return (
        Path(named) if named else Path(os.environ.get(DATA_DIR_ENV, DEFAULT_DATA_DIR)) / "reports"
    )


def write_reports(app: Ledger, folder: Path, out: Callable[[str], None]) -> None:
    """The quarter's report of each plan, as XLSX and PDF, into ``folder`` — as
    ``lienthong report`` writes them, covered by the checkpoint just made."""
    out(f"The quarter's reports (báo cáo quý I/2026), as XLSX and PDF, into {folder} …")
    folder.mkdir(parents=True, exist_ok=True)
    period = period_from_label(REPORT_PERIOD)
    for plan in sorted(app.plan_keys()):
        report = report_on_store(app, plan, period, None)
        for fmt in FORMATS:
            path = folder / report.filename(fmt)
            path.write_bytes(render(report, fmt))
            out(f"  {path}")
    out(f"  e.g. lienthong report --plan {PB} --period {REPORT_PERIOD} --format pdf")


def checkpoint_and_verify(app: Ledger, out: Callable[[str], None]) -> None:
    """End as an auditor would: a signed checkpoint of the whole log, kept in a file,
    and the store verified against it (every leaf recomputed from the stored rows)."""
    out("The log, for auditors: a signed checkpoint, and the store verified against it …")
    signer = load_signer(key_file())
    note = make_checkpoint(log_tree(app.recorder), signer, lambda _: None)
    for line in note.splitlines():
        out(f"  {line}")
    kept = key_file().parent / "demo-checkpoint.note"
    kept.write_text(note, encoding="utf-8")
    checkpoint = open_checkpoint(note, signer.verifier())
    size = verify_log(log_tree(app.recorder), checkpoint, lambda *_: None, lambda _: None)
    out(f"  verified: {checkpoint.size} leaves of the checkpoint, every leaf recomputed")
    out(f"  kept in {kept}; later: lienthong audit verify --checkpoint {kept} ({size} leaves now)")


def render_status(status: resources_pb2.PlanStatus) -> Iterator[str]:
    """A plan's consolidated status as a few readable lines."""
    yield ""
    yield f"{status.ward} — Kế hoạch {status.number} ({status.plan_id}), tính đến {status.as_of}"
    counts = " · ".join(f"{label(c.status)} {c.count}" for c in status.by_status if c.count)
    yield f"  {status.item_count} mục: {counts}"
    short = {name: name.removeprefix(f"{status.plan_id}/") for name in status.awaiting_completion}
    yield f"  Chờ hoàn thiện: {', '.join(short.values()) or '—'}"
    late = [
        f"{o.name.removeprefix(status.plan_id + '/')} ({', '.join(o.lead)}; {o.deadline}; {o.percent}%)"
        for o in status.overdue
    ]
    yield f"  Quá hạn: {'; '.join(late) or '—'}"
    yield f"  Vướng mắc chưa xử lý: {status.open_obstacles}"
    if status.dependencies:
        waits = [
            f"nhiệm vụ {d.downstream_task} chờ nhiệm vụ {d.upstream_task}"
            for d in status.dependencies
        ]
        yield f"  Phụ thuộc: {', '.join(waits)}"


def render_flags(flags: Sequence[resources_pb2.RedFlag]) -> Iterator[str]:
    """The red flags up on the report day: a flag on one item, a line; flags of one
    rule on several items of the same lead, one line naming them; the reports owed
    (REPORT_MISSING), one line per unit owing them — whom the office urges, for what."""
    if not flags:
        yield "  red flags: —"
    alike: dict[tuple[str, int, str], list[resources_pb2.RedFlag]] = {}
    owed: dict[str, list[resources_pb2.RedFlag]] = {}
    for flag in flags:
        if flag.rule == "REPORT_MISSING":
            for unit in flag.units:
                owed.setdefault(unit, []).append(flag)
        else:
            alike.setdefault((flag.rule, flag.rule_version, ", ".join(flag.lead)), []).append(flag)
    for (rule, version, lead), group in alike.items():
        flag = group[0]
        if len(group) == 1:
            how = "as days passed" if not flag.raised_at_event else "by " + flag.raised_by
            yield (
                f"  ⚑ {rule} v{version} on {item_of(flag)} ({lead}) since {flag.raised_on} "
                f"{how}: {flag.message}"
            )
        else:
            items = ", ".join(sorted({item_of(f) for f in group}))
            periods = ", ".join(sorted({f.period for f in group if f.period}))
            during = f" for {periods}" if periods else ""
            yield f"  ⚑ {rule} v{version} on {items} ({lead}){during} — e.g. {flag.message}"
    for unit, missing in sorted(owed.items()):
        items = ", ".join(sorted({item_of(f) for f in missing}))
        periods = ", ".join(sorted({f.period for f in missing}))
        yield (
            f"  ✉ REPORT_MISSING v{missing[0].rule_version}: {unit} owes {len(missing)} "
            f"report(s) for {periods} on {items}"
        )


def item_of(flag: resources_pb2.RedFlag) -> str:
    """The item a flag is on, within its plan ("task/3")."""
    return flag.subject.split("/", 1)[1]


def render_office_view(
    held: Sequence[plan_pb.Bottleneck], cards: Sequence[plan_pb.Scorecard]
) -> Iterator[str]:
    """Who holds up whom, and the ranking with the parts of each score."""
    yield ""
    yield f"Bottlenecks on {REPORT_DAY}:"
    if not held:
        yield "  —"
    for b in held:
        yield (
            f"  {b.agency_id}: late {', '.join(b.late_tasks)} holds up "
            f"{len(b.held_tasks)} task(s) of {', '.join(b.held_agencies) or 'itself'}"
        )
    yield f"Ranking on {REPORT_DAY} (top and bottom three of {len(cards)}):"
    shown = list(cards[:3]) + (list(cards[-3:]) if len(cards) > 6 else list(cards[3:]))  # noqa: PLR2004
    for card in shown:
        parts = " · ".join(f"{p.name} {p.count}/{p.of}" for p in card.parts if p.of)
        yield f"  {card.rank:>2}. {card.agency_id:<30} {card.score:5.1f}  {parts}"


def label(status: resources_pb2.ItemStatus.ValueType) -> str:
    name = resources_pb2.ItemStatus.Name(status).removeprefix("ITEM_STATUS_").lower()
    return ItemStatus(name).label_vi

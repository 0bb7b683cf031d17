"""The client of an agency system: publish events about its tasks and indicators."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import grpc
from lienthong.v1 import ingest_service_pb2, ingest_service_pb2_grpc

from lienthong_sdk import envelopes as build
from lienthong_sdk._rpc import ClientBase, refusal, verdict_of
from lienthong_sdk.envelopes import Envelope, Header, ObstacleKind, Value
from lienthong_sdk.evidence import Evidence
from lienthong_sdk.identity import Identity
from lienthong_sdk.verdicts import LienthongError, Verdict


class AgencyClient(ClientBase):
    """Publishes events of one agency (``agency_id``, a registry id such as
    "phuoc-binh.health-post"), optionally naming the ``person`` acting for it.

    ``target`` is "host:port" or an existing ``grpc.Channel``; ``identity`` (the
    agency's certificate and key, :class:`~lienthong_sdk.identity.Identity`) makes the
    channel to "host:port" mutual TLS and signs every envelope this client sends
    (an envelope already signed is sent as it is). Each call waits up to
    ``timeout`` seconds; a transient failure is retried ``retries`` times after
    ``backoff``, 2×``backoff``, 4×``backoff``… seconds, resending the same envelope
    under the same request id, so a retry of an envelope that had landed gets
    "duplicate". A refused submission returns a "rejected" :class:`Verdict`; any other
    refusal raises :class:`LienthongError`.

    Example::

        identity = Identity.from_files("health-post.pem", "health-post.key", "ca.pem")
        with AgencyClient("127.0.0.1:50051", "phuoc-binh.health-post", identity=identity) as c:
            verdict = c.report_progress("phuoc-binh-2026/task/24", 35, date(2026, 3, 31))
    """

    def __init__(
        self,
        target: str | grpc.Channel,
        agency_id: str,
        person: str | None = None,
        *,
        identity: Identity | None = None,
        timeout: float = 10.0,
        retries: int = 4,
        backoff: float = 0.2,
    ) -> None:
        super().__init__(
            target, identity=identity, timeout=timeout, retries=retries, backoff=backoff
        )
        self.agency_id = agency_id
        self.person = person
        self._ingest = ingest_service_pb2_grpc.IngestServiceStub(self.channel)

    @property
    def header(self) -> Header:
        """The header of the envelopes this client builds (occurred now, new event id)."""
        return {"agency_id": self.agency_id, "person": self.person}

    # Sending envelopes ------------------------------------------------------------------

    def publish(self, envelope: Envelope, request_id: str | None = None) -> Verdict:
        """Publish one envelope and return its verdict. ``request_id`` defaults to the
        envelope's ``event_id``."""
        if not envelope.event_id:
            raise ValueError("the envelope has no event_id (the builders set one)")
        request = ingest_service_pb2.PublishRequest(
            request_id=request_id or envelope.event_id, envelope=self._signed(envelope)
        )
        verdict, _ = self._rpc.submit(self._ingest.Publish, request)
        return verdict

    def publish_many(self, envelopes: Iterable[Envelope]) -> list[Verdict]:
        """Publish a batch over one stream; one verdict per envelope, in order.

        A retry resends the whole batch (envelopes that had landed get "duplicate").
        If the server ends the stream with a refusal instead of answering per envelope,
        :class:`LienthongError` is raised with that refusal's ``verdict``.
        """
        requests = [
            ingest_service_pb2.PublishStreamRequest(request_id=e.event_id, envelope=self._signed(e))
            for e in envelopes
        ]
        if not requests:
            return []
        try:
            response: ingest_service_pb2.PublishStreamResponse = self._rpc.call(
                lambda timeout: self._ingest.PublishStream(iter(requests), timeout=timeout)
            )
        except grpc.RpcError as error:
            verdict = refusal(error)
            msg = f"the batch stopped at {verdict.event_id}: {verdict.message}"
            raise LienthongError(
                "ABORTED", msg, reason=verdict.reason_code, verdict=verdict
            ) from None
        return _verdicts_for(requests, response)

    # Reports ----------------------------------------------------------------------------

    def report_progress(
        self,
        subject: str,
        percent: int,
        as_of: date,
        *,
        note: str = "",
        evidence: Evidence | Iterable[Evidence] = (),
    ) -> Verdict:
        """As the lead unit, report a task's overall progress (0-100) on ``as_of``."""
        return self.publish(
            build.progress_reported(
                subject, percent=percent, as_of=as_of, note=note, evidence=evidence, **self.header
            )
        )

    def report_contribution(
        self,
        subject: str,
        percent: int,
        as_of: date,
        *,
        note: str = "",
        evidence: Evidence | Iterable[Evidence] = (),
    ) -> Verdict:
        """As a coordinating unit, report how far this agency's part of a task has come."""
        return self.publish(
            build.contribution_reported(
                subject, percent=percent, as_of=as_of, note=note, evidence=evidence, **self.header
            )
        )

    def correct_report(
        self, subject: str, report_version: int, percent: int, reason: str
    ) -> Verdict:
        """Correct the progress report that made ``report_version`` of the task."""
        return self.publish(
            build.report_corrected(
                subject,
                report_version=report_version,
                percent=percent,
                reason=reason,
                **self.header,
            )
        )

    def record_measurement(
        self,
        subject: str,
        value: Value,
        unit: str,
        period: str,
        as_of: date,
        *,
        note: str = "",
    ) -> Verdict:
        """Record a measurement of an indicator for ``period`` ("2026", "2026-Q1", …)."""
        return self.publish(
            build.indicator_measured(
                subject,
                value=value,
                unit=unit,
                period=period,
                as_of=as_of,
                note=note,
                **self.header,
            )
        )

    def correct_measurement(
        self, subject: str, measurement_version: int, value: Value, unit: str, reason: str
    ) -> Verdict:
        """Correct the measurement that made ``measurement_version`` of the indicator."""
        return self.publish(
            build.measurement_corrected(
                subject,
                measurement_version=measurement_version,
                value=value,
                unit=unit,
                reason=reason,
                **self.header,
            )
        )

    # Evidence, completion, obstacles ---------------------------------------------------

    def submit_evidence(self, subject: str, evidence: Evidence | Iterable[Evidence]) -> Verdict:
        """Submit evidence for a task or indicator."""
        return self.publish(build.evidence_submitted(subject, evidence=evidence, **self.header))

    def claim_completion(
        self, subject: str, evidence: Evidence | Iterable[Evidence], *, note: str = ""
    ) -> Verdict:
        """As the lead unit, claim an item complete, citing ``evidence``."""
        return self.publish(
            build.completion_claimed(subject, evidence=evidence, note=note, **self.header)
        )

    def raise_obstacle(
        self, subject: str, obstacle_id: str, kind: ObstacleKind, description: str
    ) -> Verdict:
        """Raise a "difficulty" (khó khăn) or "blocker" (vướng mắc) on an item."""
        return self.publish(
            build.obstacle_raised(
                subject,
                obstacle_id=obstacle_id,
                kind=kind,
                description=description,
                **self.header,
            )
        )

    def resolve_obstacle(self, subject: str, obstacle_id: str, resolution: str) -> Verdict:
        """Resolve an obstacle this agency raised."""
        return self.publish(
            build.obstacle_resolved(
                subject, obstacle_id=obstacle_id, resolution=resolution, **self.header
            )
        )


def _verdicts_for(
    requests: list[ingest_service_pb2.PublishStreamRequest],
    response: ingest_service_pb2.PublishStreamResponse,
) -> list[Verdict]:
    verdicts = [verdict_of(v) for v in response.verdicts]
    if len(verdicts) != len(requests):
        msg = f"{len(requests)} envelopes sent, {len(verdicts)} verdicts received"
        raise LienthongError("UNKNOWN", msg, reason="VERDICT_COUNT_MISMATCH")
    return verdicts

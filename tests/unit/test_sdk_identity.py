"""The SDK with an identity: its clients sign what they send (envelopes, review
requests), leave what is signed already as it is, and sign nothing without one; the
signature verifies with the agency's certificate over the canonical bytes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from lienthong.v1 import envelope_pb2, ingest_service_pb2, review_service_pb2

from lienthong_sdk import envelopes
from lienthong_sdk.client import AgencyClient, CoordinationClient
from lienthong_sdk.identity import canonical_bytes
from lienthong_sdk.kafka import KafkaPublisher
from services.app.identity import Signed, load_certificate, verify_signature
from tests.identities import identity

HEALTH = "phuoc-binh.health-post"
OFFICE = "phuoc-binh.vhxh"
PB = "phuoc-binh-2026"
ACCEPTED = envelope_pb2.Verdict(event_id="e", outcome=envelope_pb2.OUTCOME_ACCEPTED)


class FakeChannel:
    """Records every request sent; answers each with an accepted verdict."""

    def __init__(self) -> None:
        self.sent: list[Any] = []

    def _answer(self, method: str) -> Any:
        if method.endswith("PublishStream"):
            return ingest_service_pb2.PublishStreamResponse(verdicts=[ACCEPTED] * len(self.sent))
        if method.endswith("/Publish"):
            return ingest_service_pb2.PublishResponse(verdict=ACCEPTED)
        name = method.rsplit("/", 1)[1]
        return getattr(review_service_pb2, f"{name}Response")(verdict=ACCEPTED)

    def unary_unary(self, method: str, *_: Any, **__: Any) -> Callable[..., Any]:
        def call(request: Any, timeout: float | None = None) -> Any:
            self.sent.append(request)
            return self._answer(method)

        return call

    def stream_unary(self, method: str, *_: Any, **__: Any) -> Callable[..., Any]:
        def call(requests: Iterator[Any], timeout: float | None = None) -> Any:
            self.sent.extend(requests)
            return self._answer(method)

        return call

    unary_stream = stream_stream = unary_unary


def verified(message: Any, agency: str) -> bool:
    """The message's signature verifies with ``agency``'s certificate."""
    certificate = load_certificate(identity(agency).certificate)
    signature = message.signature
    signed = Signed(
        signature.key_id, signature.algorithm, signature.signature, canonical_bytes(message)
    )
    verify_signature(certificate, signed)
    return load_certificate(signature.certificate) == certificate


def report() -> envelope_pb2.AgencyEventEnvelope:
    return envelopes.progress_reported(
        f"{PB}/task/24", percent=30, as_of=dt.date(2026, 2, 10), agency_id=HEALTH
    )


def test_an_agency_client_with_an_identity_signs_each_envelope() -> None:
    channel = FakeChannel()
    client = AgencyClient(channel, HEALTH, identity=identity(HEALTH))
    client.report_progress(f"{PB}/task/24", 30, dt.date(2026, 2, 10))
    (request,) = channel.sent
    assert verified(request.envelope, HEALTH)


def test_a_batch_is_signed_envelope_by_envelope() -> None:
    channel = FakeChannel()
    client = AgencyClient(channel, HEALTH, identity=identity(HEALTH))
    client.publish_many([report(), report()])
    assert [verified(r.envelope, HEALTH) for r in channel.sent] == [True, True]


def test_an_envelope_signed_already_is_sent_as_it_is() -> None:
    channel = FakeChannel()
    envelope = identity(HEALTH).signer().sign(report())
    AgencyClient(channel, HEALTH, identity=identity(OFFICE)).publish(envelope)
    assert channel.sent[0].envelope == envelope


def test_a_client_without_an_identity_signs_nothing() -> None:
    channel = FakeChannel()
    AgencyClient(channel, HEALTH).publish(report())
    assert not channel.sent[0].envelope.HasField("signature")


def test_the_coordination_client_signs_its_review_requests() -> None:
    channel = FakeChannel()
    office = CoordinationClient(channel, OFFICE, identity=identity(OFFICE))
    office.declare_dependency(PB, "21", "24", "cần danh tính số")
    office.accept_evidence(f"{PB}/task/24", "a" * 64)
    assert [verified(r, OFFICE) for r in channel.sent] == [True, True]


def test_a_client_given_host_and_port_and_an_identity_opens_a_tls_channel() -> None:
    with AgencyClient("127.0.0.1:1", HEALTH, identity=identity(HEALTH)) as client:
        assert client._rpc.owns_channel
        assert client.signer is not None


def test_the_kafka_publisher_signs_an_envelope_that_is_not_signed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sent: list[bytes] = []

    class Producer:
        def send(self, *_: Any, **fields: Any) -> Any:
            sent.append(fields["value"])
            return self

        def get(self, **_: Any) -> None:
            return None

    monkeypatch.setattr("lienthong_sdk.kafka.kafka_producer", lambda *_, **__: Producer())
    publisher = KafkaPublisher("broker:9092", signer=identity(HEALTH).signer())
    publisher.publish(report())
    assert verified(envelope_pb2.AgencyEventEnvelope.FromString(sent[0]), HEALTH)

"""B6 — what a signature costs per envelope: signing (the agency's side) and checking
(the ingest's side), ECDSA P-256 and Ed25519, against the ingest's own decoding of the
same envelope, measured in the same run. CPU only: no database, no network.

The envelopes are B1's (:mod:`bench.dataset`: a reporting month of synthetic wards),
each re-addressed to one agency per algorithm, whose certificate the throwaway
authority (:class:`services.app.pki.Authority`, an ECDSA P-256 CA) issued. Measured
per envelope, each over every envelope of the sample, the best of ``--repeat`` rounds:

- ``decode`` (the baseline): what the ingest does with a record before the store —
  parse the protobuf and convert it into a command (:func:`services.kafka.ingest.decode`);
- ``sign``: :meth:`lienthong_sdk.identity.Signer.sign` — the canonical bytes (a copy
  with ``signature`` cleared, serialised deterministically), the signature, the
  ``Signature`` field with the certificate (DER) attached;
- ``verify``: the canonical bytes of the received envelope and
  :func:`services.app.identity.check_signed` with the key on record already in the
  cache (as the worker's batch cache holds it): the key's checks (agency, revocation,
  validity), its certificate (parsed once per process) checked against the trust
  anchors as the ingest paths hold them (an issuer check remembered per certificate,
  its validity window checked every time), and the envelope's signature;
- ``verify_signature_only``: the canonical bytes and the envelope's signature alone
  (:func:`services.app.identity.verify_signature` on an already parsed certificate) —
  what ``verify`` would cost with the key's parsed, anchor-checked certificate cached.

Writes ``bench/results/b6_signatures.json``; the ratio is ``verify`` / ``decode``.

    python -m bench.b6_signatures [--envelopes 2000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
import zlib
from collections.abc import Callable
from typing import Any, cast

from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from lienthong.v1 import envelope_pb2

from bench.dataset import Dataset, Spec, wards_for
from bench.harness import Result, say
from domain.context import Context
from domain.keys import Role, SigningKey, signing_key_id
from lienthong_sdk.identity import Signer, canonical_bytes
from services.app.identity import (
    Signed,
    TrustAnchors,
    algorithm_of,
    check_signed,
    key_id_of,
    load_certificate,
    pem_of,
    verify_signature,
)
from services.app.ledger import Ledger
from services.app.pki import Authority
from services.kafka.ingest import Record, decode
from services.kafka.topics import AGENCY_EVENTS

AGENCY = {"ecdsa-p256": "bench.ecdsa-agency", "ed25519": "bench.ed25519-agency"}


def per_envelope(label: str, work: Callable[[int], object], count: int, repeat: int) -> float:
    """Microseconds per call of ``work(i)`` for i in range(count), best of ``repeat``."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for index in range(count):
            work(index)
        best = min(best, time.perf_counter() - start)
    micros = best * 1e6 / count
    say(f"{label}: {micros:,.1f} µs per envelope ({count:,} envelopes, best of {repeat})")
    return micros


def signed_of(envelope: envelope_pb2.AgencyEventEnvelope) -> Signed:
    """What the ingest reads of a received envelope's signature."""
    s = envelope.signature
    return Signed(s.key_id, s.algorithm, s.signature, canonical_bytes(envelope), s.certificate)


def measure(  # noqa: PLR0917 - the sample, its authority and the settings
    name: str,
    private: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey,
    sample: list[envelope_pb2.AgencyEventEnvelope],
    authority: Authority,
    ctx: Context,
    repeat: int,
) -> dict[str, Any]:
    """Sign and check every envelope of ``sample`` in the name of one agency whose
    certificate, for ``private``, ``authority`` issued (its key on record, cached)."""
    agency, count, now = AGENCY[name], len(sample), ctx.recorded_at
    anchors = TrustAnchors([authority.certificate])
    no_store = cast("Ledger", None)  # the key is in the cache: the store is never asked
    certificate, _ = authority.issue(agency, Role.AGENCY, key=private)
    key = SigningKey.register(
        ctx,
        key_id=key_id_of(certificate),
        agency=agency,
        role=Role.AGENCY,
        algorithm=algorithm_of(certificate),
        certificate=pem_of(certificate),
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
    )
    cache: dict[Any, Any] = {signing_key_id(key.key_id): key}
    signer = Signer(certificate, private)
    envelopes = []
    for original in sample:
        envelope = envelope_pb2.AgencyEventEnvelope()
        envelope.CopyFrom(original)
        envelope.agency_id = agency
        envelopes.append(envelope)
    sign = per_envelope(f"{name} sign", lambda i: signer.sign(envelopes[i]), count, repeat)
    wire = [e.SerializeToString() for e in envelopes]
    received = [envelope_pb2.AgencyEventEnvelope.FromString(b) for b in wire]
    for envelope in received:  # every signature checks before anything is timed
        check_signed(no_store, agency, signed_of(envelope), anchors, now, cache)
    verify = per_envelope(
        f"{name} verify (check_signed)",
        lambda i: check_signed(no_store, agency, signed_of(received[i]), anchors, now, cache),
        count,
        repeat,
    )
    parsed = load_certificate(key.certificate.encode())
    signature_only = per_envelope(
        f"{name} verify_signature only",
        lambda i: verify_signature(parsed, signed_of(received[i])),
        count,
        repeat,
    )
    return {
        "sign_us": round(sign, 1),
        "verify_us": round(verify, 1),
        "verify_signature_only_us": round(signature_only, 1),
        "envelope_bytes_unsigned": round(sum(len(e.SerializeToString()) for e in sample) / count),
        "envelope_bytes_signed": round(sum(map(len, wire)) / count),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envelopes", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=57)
    args = parser.parse_args(argv)

    result = Result("b6_signatures", "B6 signature cost")
    spec = Spec(wards=wards_for(2_000), events=args.envelopes * 2, seed=args.seed)
    dataset = Dataset(spec)
    sample: list[envelope_pb2.AgencyEventEnvelope] = []
    for message in dataset.messages():
        envelope = envelope_pb2.AgencyEventEnvelope()
        try:
            envelope.ParseFromString(message.value)
        except Exception:  # noqa: BLE001, S112 - the dataset's undecodable records
            continue
        if envelope.WhichOneof("payload") and len(sample) < args.envelopes:
            sample.append(envelope)
    count = len(sample)
    say(f"{count:,} envelopes from the B1 dataset (seed {spec.seed})")

    authority = Authority.create()
    now = dt.datetime.now(dt.UTC)
    ctx = Context(
        agency="operator:bench",
        occurred_at=now,
        recorded_at=now,
        channel="cli",
        message_id="bench",
    )
    raw = [e.SerializeToString() for e in sample]
    baseline = per_envelope(
        "decode (baseline)",
        lambda i: decode(Record(AGENCY_EVENTS, zlib.crc32(raw[i]) % 6, i, raw[i])),
        count,
        args.repeat,
    )

    figures: dict[str, Any] = {"decode_us": round(baseline, 1), "envelopes": count}
    ratios: dict[str, float] = {}
    keys: dict[str, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey] = {
        "ecdsa-p256": ec.generate_private_key(ec.SECP256R1()),
        "ed25519": ed25519.Ed25519PrivateKey.generate(),
    }
    for name, private in keys.items():
        figures[name] = measure(name, private, sample, authority, ctx, args.repeat)
        verify, sign = figures[name]["verify_us"], figures[name]["sign_us"]
        ratios[f"{name}_verify_vs_decode"] = round(verify / baseline, 2)
        ratios[f"{name}_sign_vs_decode"] = round(sign / baseline, 2)
        result.row(
            f"{name}: verify {verify:,.0f} µs/envelope"
            f" (signature alone {figures[name]['verify_signature_only_us']:,.0f}),"
            f" sign {sign:,.0f} µs",
            f"decode {baseline:,.0f} µs/envelope",
            f"{verify / baseline:.1f}×",
            "none set (stated)",
            None,
        )
    result.figures.update(figures)
    result.baselines = {"decode_us": round(baseline, 1)}
    result.ratios = ratios
    result.settings = {"envelopes": count, "repeat": args.repeat, "cache": "key on record cached"}
    result.dataset = dataset.describe()
    result.notes.append(
        "CPU cost on one core of a shared 2-core machine (other jobs ran at the same time:"
        " see the load average); ECDSA signatures are DER, over the SHA-256 of the"
        " canonical bytes; the CA is ECDSA P-256 in both cases, so verify includes one"
        " ECDSA verification of the certificate's signature for Ed25519 keys too"
    )
    result.write()
    for name in keys:
        f = figures[name]
        print(  # noqa: T201
            f"B6 {name}: verify {f['verify_us']} µs/envelope "
            f"({f['verify_us'] / baseline:.1f}× decode {baseline:.0f} µs),"
            f" signature alone {f['verify_signature_only_us']} µs, sign {f['sign_us']} µs"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Report a task's progress as an agency, and claim completion at 100% with evidence.

    python -m lienthong_sdk.examples.agency_publisher --target 127.0.0.1:50051 \\
        --agency phuoc-binh.health-post --subject phuoc-binh-2026/task/24 --percent 35 \\
        --certificate health-post.pem --key health-post.key --authority ca.pem

    ... --percent 100 --evidence decision.pdf --uri https://docs.example/decision.pdf

The agency calls over mutual TLS with its certificate and key and signs what it
sends; without ``--certificate``, they are looked up in the throwaway authority's
folder (``--pki``, default ``$LIENTHONG_PKI_DIR`` or ``.lienthong/pki``, as made by
``lienthong pki init``): ``<role>/<agency>.pem`` and ``.key``, and ``ca.pem``.

Prints each verdict. Exit status: 0 accepted or duplicate, 2 rejected or invalid (the
reason is printed), 1 the server could not be reached.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from lienthong_sdk import AgencyClient, Evidence, Identity, LienthongError, Verdict

DONE = 100
EXIT_OK, EXIT_UNREACHABLE, EXIT_REFUSED = 0, 1, 2
VIETNAM = timezone(timedelta(hours=7), "ICT")  # no daylight saving time


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="127.0.0.1:50051", help="host:port of the API")
    parser.add_argument("--agency", required=True, help="registry id of the reporting agency")
    parser.add_argument("--person", help="the person acting for the agency")
    parser.add_argument("--subject", required=True, help="PLAN/task/KEY")
    parser.add_argument("--percent", type=int, required=True, help="overall progress, 0-100")
    parser.add_argument(
        "--as-of",
        type=date.fromisoformat,
        default=datetime.now(VIETNAM).date(),
        help="the day the figure refers to, YYYY-MM-DD (default: today in Vietnam)",
    )
    parser.add_argument("--note", default="")
    parser.add_argument("--evidence", type=Path, help="a document proving the report")
    parser.add_argument("--uri", help="where reviewers find the evidence (with --evidence)")
    parser.add_argument("--media-type", help="of the evidence (guessed from its name if omitted)")
    parser.add_argument("--certificate", type=Path, help="the agency's certificate (PEM)")
    parser.add_argument("--key", type=Path, help="its private key (PEM)")
    parser.add_argument("--authority", type=Path, help="the authority's certificate (PEM)")
    parser.add_argument(
        "--pki",
        type=Path,
        default=Path(os.environ.get("LIENTHONG_PKI_DIR", "").strip() or ".lienthong/pki"),
        help="where to find them when not given (a `lienthong pki init` folder)",
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per attempt")
    parser.add_argument("--retries", type=int, default=4)
    arguments = parser.parse_args(argv)
    if arguments.evidence and not arguments.uri:
        parser.error("--evidence needs --uri")
    return arguments


def identity_of(arguments: argparse.Namespace) -> Identity:
    """The agency's certificate and key: as given, or found in the PKI folder."""
    pki: Path = arguments.pki
    certificate = arguments.certificate
    if certificate is None:
        found = sorted(pki.glob(f"*/{arguments.agency}.pem"))
        if not found:
            msg = f"no certificate of {arguments.agency} in {pki}: give --certificate"
            raise ValueError(msg)
        certificate = found[0]
    key = arguments.key or certificate.with_suffix(".key")
    return Identity.from_files(certificate, key, arguments.authority or pki / "ca.pem")


def show(what: str, verdict: Verdict) -> None:
    line = f"{what}: {verdict.outcome} (event {verdict.event_id}"
    line += f", position {verdict.position})" if verdict.position else ")"
    if verdict.first_outcome:
        line += f"; first submission: {verdict.first_outcome}"
    if verdict.reason_code:
        line += f"; {verdict.reason_code}: {verdict.message}"
    sys.stdout.write(line + "\n")


def evidence_of(arguments: argparse.Namespace) -> tuple[Evidence, ...]:
    if arguments.evidence is None:
        return ()
    return (Evidence.of_file(arguments.evidence, arguments.uri, arguments.media_type),)


def publish(client: AgencyClient, arguments: argparse.Namespace) -> bool:
    """Report progress, then claim completion when done; False once anything is refused."""
    evidence = evidence_of(arguments)
    verdict = client.report_progress(
        arguments.subject, arguments.percent, arguments.as_of, note=arguments.note
    )
    show("progress", verdict)
    if verdict.refused:
        return False
    if evidence and arguments.percent == DONE:
        verdict = client.claim_completion(arguments.subject, evidence, note=arguments.note)
        show("completion claim", verdict)
    elif evidence:
        verdict = client.submit_evidence(arguments.subject, evidence)
        show("evidence", verdict)
    return not verdict.refused


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    try:
        with AgencyClient(
            arguments.target,
            arguments.agency,
            arguments.person,
            identity=identity_of(arguments),
            timeout=arguments.timeout,
            retries=arguments.retries,
        ) as client:
            return EXIT_OK if publish(client, arguments) else EXIT_REFUSED
    except LienthongError as error:
        sys.stderr.write(f"{error}\n")
        return EXIT_UNREACHABLE if error.unreachable else EXIT_REFUSED
    except (OSError, ValueError) as error:
        sys.stderr.write(f"{error}\n")
        return EXIT_REFUSED


if __name__ == "__main__":
    sys.exit(main())

"""The ``lienthong`` command line.

    lienthong plans import PATH… [--agencies FILE] [--reason TEXT] [--format text|json]
    lienthong plans list [--format text|json]
    lienthong plans show PLAN
    lienthong plans status PLAN… [--as-of YYYY-MM-DD] [--format text|json]
    lienthong projections rebuild|catch-up|follow|digest VIEW
    lienthong projections rebuild|catch-up|digest --all
    lienthong audit checkpoint|verifier-key|status
    lienthong audit witness-key --key-file FILE [--name NAME]
    lienthong audit cosign --key-file FILE --checkpoint FILE [--verifier-key KEY]
    lienthong audit add-cosignature --checkpoint FILE
    lienthong audit prove --position N --tree-size S [--format text|json]
    lienthong audit prove-consistency --from A --to B [--format text|json]
    lienthong audit verify --checkpoint FILE [--verifier-key KEY]
    lienthong audit verify-signature (EVENT_ID --agency A | --position N) [--anchors FILE]
    lienthong audit late (--plan P | --agency A) [--known-at T] [--format text|json]
    lienthong audit corrections (--plan P | --agency A) --after T [--before T] [--format text|json]
    lienthong audit inspect --plan P --as-of YYYY-MM-DD --known-at T [--format text|json]
    lienthong report --plan P --period 2026-Q1|2026-03|2026-H1|2026 --format xlsx|pdf
                     [--known-at T] [--output FILE]
    lienthong pki init [--agencies FILE] [--plans-dir DIR]
    lienthong keys register CERT_FILE… [--anchors FILE]
    lienthong keys revoke KEY_ID --reason TEXT
    lienthong keys list [--agency A] [--format text|json]
    lienthong keys enrol [--agencies FILE] [--plans-dir DIR] [--anchors FILE]
    lienthong db standby --from URL --data DIR [--name NAME] [--port N] [--listen ADDRS]
                         [--synchronous remote_apply|on|remote_write|local|off]
    lienthong db promote --data DIR [--port N] [--listen ADDRS]
    lienthong db stop|start --data DIR
    lienthong national rollup --provinces PREFIX,PREFIX… [--bootstrap HOST:PORT]
    lienthong serve
    lienthong ingest-worker
    lienthong relay
    lienthong checkpointer
    lienthong run
    lienthong demo

Progress goes to standard error, results to standard output. Exit status: 0 done,
2 bad input (every problem listed), 1 unexpected failure; ``audit verify`` also 3 (the
checkpoint's signature does not verify with the key) and 4 (the store does not verify
against the checkpoint: the first failing position and why on standard error);
``audit cosign`` also 3 (the log's signature does not verify);
``audit verify-signature`` 0 verified, 2 not verifiable (an unsigned legacy event, or
a refusal), 3 verification failed.

The CLI is an operator's tool on the local store: what it writes (keys, imports)
records the operator as who authorised it — ``operator:NAME``, NAME from
``LIENTHONG_OPERATOR`` or the OS user — through the channel ``cli``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import dataclasses
import datetime as dt
import getpass
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

from domain.errors import DomainError, InvalidValueError, NotFoundError
from domain.merkle import ProofError
from domain.messages import vietnamese
from projections.engine.known_at import rows_known_at
from projections.engine.live import LiveViews
from projections.engine.replay import share_replay
from projections.engine.rows import Views, json_safe
from projections.engine.runner import ProjectionRunner, catch_up_all, rebuild_all
from projections.plans import items_of, plan_status, plan_summary
from projections.red_flags import led_items, missing_reports, raised_flags
from projections.scorecards import PART_TITLES, standings
from projections.views import PLAN_VIEWS, VIEWS, caught_up, view_named
from services.app import inspection
from services.app.audit import (
    VerificationError,
    key_file,
    load_signer,
    log_tree,
    open_checkpoint,
    sign_head,
    verify_log,
)
from services.app.checkpointer import Checkpointer, LogLimits, log_status
from services.app.clock import ward_today
from services.app.enrolment import enrol_folder
from services.app.identity import (
    TrustAnchors,
    pki_dir,
    register_key,
    registered_key,
    revoke_key,
)
from services.app.importer import (
    AGENCIES_ENV,
    DEFAULT_REGISTRY,
    ImportFailedError,
    import_plans,
    registries_from_env,
)
from services.app.ledger import Actor, Ledger
from services.app.notes import NoteError, Signer, Verifier
from services.app.pki import init_pki, roles_of
from services.app.witness import add_cosignatures, cosigned, witness_keys
from services.demo import play, render_status
from services.grpc.health import start_health
from services.grpc.server import ServerSettings, serve
from services.kafka.checkpoints import run_checkpointer
from services.kafka.national import NationalRollup, read_to_end
from services.kafka.relay import Relay
from services.kafka.reminders import Reminders
from services.kafka.submit import KafkaSubmitter
from services.kafka.topics import AGENCY_EVENTS, KafkaSettings, kafka_producer
from services.kafka.vitals import Vitals, broker_check, grace_from_env
from services.kafka.worker import run_worker
from services.logs import setup_logging
from services.metrics import serve_metrics
from services.reports import render
from services.reports.gather import report_on_store
from services.reports.periods import check_format, parse_period
from services.store import replication
from services.store.database import (
    ConfigurationError,
    database_url,
    open_database,
    parse_database_url,
    read_database,
)
from services.supervisor import run_full
from services.wire.convert import Checker, plan_status_message
from services.wire.receipts import (
    UNSIGNED,
    VERIFIED,
    ReceiptNotFoundError,
    find_receipt,
    receipt_at,
    verify_receipt,
)

DEFAULT_PLANS = Path("data/plans")
EXIT_BAD_INPUT = 2
EXIT_BAD_SIGNATURE = 3
EXIT_LOG_FAILS = 4
OPERATOR_ENV = "LIENTHONG_OPERATOR"
KEY_REGISTERED = "lienthong.signing_key.Registered"
ANCHORS_HELP = "trust anchors, PEM (default: LIENTHONG_TRUST_ANCHORS)"
log = logging.getLogger(__name__)


def operator() -> Actor:
    """Who runs this command, as what the CLI writes records it."""
    name = os.environ.get(OPERATOR_ENV, "").strip() or getpass.getuser()
    return Actor(agency=f"operator:{name}", channel="cli")


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def emit(data: Any, fmt: str) -> None:
    if fmt == "json":
        print(json.dumps(data, ensure_ascii=False, default=str))
    else:
        print(data)


def cmd_import(app: Ledger, args: argparse.Namespace) -> int:
    try:
        report = import_plans(
            app,
            args.paths,
            args.agencies or registries_from_env(),
            reason=args.reason,
            progress=progress,
            authorised_by=operator(),
        )
    except ImportFailedError as failed:
        if args.format == "json":
            emit({"stored": False, "problems": [p.as_dict() for p in failed.problems]}, "json")
        for problem in failed.problems:
            print(problem, file=sys.stderr)
        print(f"{len(failed.problems)} problem(s); nothing was stored", file=sys.stderr)
        return EXIT_BAD_INPUT
    for warning in report.warnings:
        print(f"WARNING {warning}", file=sys.stderr)
    if args.format == "json":
        emit({"stored": True, **report.as_dict()}, "json")
    else:
        for plan in report.plans:
            print(f"{plan['plan_id']}: {plan['action']} ({plan['file']})")
        print(f"{report.events} event(s) recorded")
    return 0


def cmd_list(app: Ledger, args: argparse.Namespace) -> int:
    views = caught_up(app, PLAN_VIEWS)
    for key, plan in sorted(views["plans"].items()):
        summary = plan_summary(views, plan)
        if args.format == "json":
            emit(summary, "json")
        else:
            print(
                f"{key:<18} {summary['ward']:<12} {summary['number']:<12} "
                f"indicators {summary['indicators']:>3}  tasks {summary['tasks']:>3}  "
                f"duties {summary['duties']:>3}  sub-items {summary['task_sub_items']:>3}"
            )
    return 0


def cmd_show(app: Ledger, args: argparse.Namespace) -> int:
    document = app.plan_document(args.plan)
    print(yaml.safe_dump(document, allow_unicode=True, sort_keys=False, width=100), end="")
    return 0


def views_on(
    app: Ledger, names: Sequence[str], as_of: dt.date, known_at: dt.datetime | None
) -> Views:
    """The named views as the API reads them: today, the views caught up; a past day,
    or a moment, the log replayed (facts about later days, and records after the
    moment, left out)."""
    if known_at is None and as_of >= ward_today():
        return caught_up(app, names)
    return rows_known_at(app, {name: VIEWS[name] for name in names}, known_at, as_of=as_of)


def known_plan(views: Views, plan: str) -> str:
    if plan not in views["plans"]:
        raise NotFoundError(f"no plan {plan} (by then)", field="plan")
    return plan


def cmd_status(app: Ledger, args: argparse.Namespace) -> int:
    views = views_on(app, PLAN_VIEWS, args.as_of, args.known_at)
    for key in args.plans or sorted(views["plans"]):
        status = plan_status(views, known_plan(views, key), args.as_of)
        if args.format == "json":
            emit(status, "json")
        else:
            print("\n".join(render_status(plan_status_message(status))))
    return 0


def items_views(app: Ledger, args: argparse.Namespace) -> Views:
    """The views a read of a plan's items, or an agency's, is answered from."""
    views = views_on(app, (*PLAN_VIEWS, "red_flags"), args.as_of, args.known_at)
    if bool(args.plan) == bool(args.agency):
        raise InvalidValueError("give exactly one of --plan and --agency", field="plan")
    return views


def cmd_flags(app: Ledger, args: argparse.Namespace) -> int:
    """The red flags up on a day (as ListRedFlags answers), one line each."""
    views = items_views(app, args)
    names = (
        [name for name, _ in items_of(views, views["plans"][known_plan(views, args.plan)])]
        if args.plan
        else led_items(views, args.agency)
    )
    for name, lead, span in raised_flags(
        views, names, args.as_of, include_cleared=args.include_cleared
    ):
        if args.format == "json":
            emit({"subject": name, "lead": lead, **span.as_row()}, "json")
        else:
            cleared = f", gỡ ngày {span.cleared_on}" if span.cleared_on else ""
            print(
                f"{span.rule} v{span.version} {name} (chủ trì: {', '.join(lead)})"
                f" từ ngày {span.raised_on}{cleared}: {span.message}"
            )
    return 0


def cmd_missing(app: Ledger, args: argparse.Namespace) -> int:
    """The reports owed on a day (as ListMissingReports answers), one line each."""
    views = items_views(app, args)
    plans = {known_plan(views, args.plan)} if args.plan else None
    for found in missing_reports(views, args.as_of, plans=plans, agency=args.agency or None):
        if args.format == "json":
            emit(found, "json")
        else:
            print(
                f"{found['item']} kỳ {found['period']} hạn {found['due']}: "
                f"{', '.join(found['units'])}"
            )
    return 0


def cmd_scores(app: Ledger, args: argparse.Namespace) -> int:
    """The units ranked by score on a day (as ListScorecards answers), best first; then
    the collectives, not ranked ("-", rank 0 in JSON). Read by people: a header of
    Vietnamese column labels and each part's Vietnamese name (the JSON keys stay)."""
    views = views_on(app, ("plans", "red_flags", "scorecards"), args.as_of, args.known_at)
    plans = {known_plan(views, args.plan)} if args.plan else None
    units, collectives = standings(views, plans, args.as_of)
    if args.format != "json" and (units or collectives):
        print(f"{'Hạng':>4} {'Đơn vị':<34} {'Điểm':>5}  Thành phần")
    for rank, card in [*enumerate(units, 1), *((0, card) for card in collectives)]:
        if args.format == "json":
            emit({"rank": rank, **card}, "json")  # rank 0: a collective, not ranked
        else:
            parts = " · ".join(
                f"{PART_TITLES.get(name, name)} {part['count']}/{part['of']}"
                for name, part in card["parts"].items()
                if part["of"]
            )
            place = f"{rank:>3}." if rank else "   -"
            print(f"{place} {card['agency']:<34} {card['score']:5.1f}  {parts}")
    return 0


def cmd_report(app: Ledger, args: argparse.Namespace) -> int:
    """A plan's periodic report, in Vietnamese, as an XLSX or PDF file."""
    fmt, period = check_format(args.format), parse_period(args.period)
    report = report_on_store(app, args.plan, period, args.known_at)
    output: Path = args.output or Path(report.filename(fmt))
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(render(report, fmt))
    kept = report.checkpoint
    covered = f"checkpoint {kept.size} leaves, root {kept.root}" if kept else "no checkpoint yet"
    print(
        f"{output}: {args.plan} {period.label} as of {report.as_of}, "
        f"log position {report.position}, {covered}"
    )
    return 0


def cmd_serve(app: Ledger, args: argparse.Namespace) -> int:
    serve_metrics("serve")
    forwarding, checkpointer = None, None
    if not args.via_kafka:  # embedded: the tree's follower runs in the server (no Kafka)
        checkpointer = Checkpointer(
            log_tree(app.recorder), load_signer(key_file()), LogLimits.from_env()
        )
    else:
        kafka = KafkaSettings.from_env()
        producer = kafka_producer(kafka.bootstrap)
        forwarding = KafkaSubmitter.following(
            app, producer, kafka.topic(AGENCY_EVENTS), kafka.verdict_wait_seconds
        )
    read = read_database()  # a hot standby the views read the log from, or the primary
    source = Ledger(env=read.eventsourcing_env(read_only=True)) if read is not None else None
    settings = ServerSettings.from_env()
    if args.plaintext:
        settings = dataclasses.replace(settings, plaintext=True)
    if args.address:
        settings = dataclasses.replace(settings, address=args.address)
    asyncio.run(serve(app, settings, forwarding, checkpointer, source))
    return 0


def progress_bar(position: int, last: int) -> None:
    """A one-line progress bar on standard error."""
    width = 30
    done = width * position // last if last else width
    end = "\n" if position >= last else ""
    sys.stderr.write(f"\r[{'#' * done}{' ' * (width - done)}] {position}/{last}{end}")
    sys.stderr.flush()


def cmd_projections_all(app: Ledger, args: argparse.Namespace) -> int:
    """Every view in one pass over the log (rebuild or catch-up); a digest per view."""
    views = [view_named(name, app) for name in VIEWS]
    share_replay(views)
    runners = [ProjectionRunner(app, view) for view in views]
    if args.projection_command == "rebuild":
        applied = rebuild_all(runners, progress_bar)
        progress(f"{len(runners)} views: rebuilt from {applied} event(s)")
    elif args.projection_command == "catch-up":
        applied = catch_up_all(runners, progress_bar)
        progress(f"{len(runners)} views: {applied} event(s) read")
    elif args.projection_command == "follow":
        progress("follow takes one view (the API server follows every view)")
        return EXIT_BAD_INPUT
    for runner in runners:
        print(f"{runner.view.name}\t{runner.digest()}")
    return 0


def cmd_projection(app: Ledger, args: argparse.Namespace) -> int:
    if args.all == bool(args.view):
        progress("name one view, or --all")
        return EXIT_BAD_INPUT
    if args.all:
        return cmd_projections_all(app, args)
    runner = ProjectionRunner(app, view_named(args.view, app))
    if args.projection_command == "rebuild":
        applied = runner.rebuild(progress_bar)
        progress(f"{args.view}: rebuilt from {applied} event(s)")
    elif args.projection_command == "catch-up":
        applied = runner.catch_up(progress_bar)
        progress(f"{args.view}: {applied} new event(s) applied")
    elif args.projection_command == "follow":
        live = LiveViews(app, {args.view: VIEWS[args.view]}, table_only={args.view})
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: live.stop())
        progress(f"{args.view}: following the log (Ctrl-C to stop)")
        live.catch_up()
        live.follow(stop_on_error=True)
    print(runner.digest())
    return 0


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def tree_progress(appended: int) -> None:
    progress(f"log tree: {appended} record(s) appended")


def cmd_audit_checkpoint(app: Ledger, _: argparse.Namespace) -> int:
    """Bring the tree up to date; sign its head unless the latest checkpoint is of it
    already; print the latest with its witnesses' cosignatures."""
    tree = log_tree(app.recorder)
    tree.update(tree_progress)
    latest = tree.latest_checkpoint()
    if latest is None or latest.size != tree.head().size:
        latest = sign_head(tree, load_signer(key_file()))
    print(cosigned(tree, latest), end="")
    return 0


def cmd_audit_verifier_key(_app: Ledger, _: argparse.Namespace) -> int:
    print(load_signer(key_file()).verifier())
    return 0


def cmd_audit_status(app: Ledger, args: argparse.Namespace) -> int:
    """The fields of AuditService.GetLogStatus, and the tree's last position."""
    tree = log_tree(app.recorder)
    status = log_status(tree)
    latest = status.checkpoint
    emit(
        {
            "tree_size": status.tree_size,
            "last_position": tree.head().position,
            "records_stored": status.stored,
            "lag": status.lag,
            "checkpoint_tree_size": latest.size if latest else None,
            "checkpoint_made_at": latest.made_at.isoformat() if latest else None,
            "checkpoint_age_seconds": status.age_seconds,
            "healthy": status.healthy(LogLimits.from_env()),
        },
        args.format,
    )
    return 0


def read_note(path: Path) -> str | None:
    """The text of a note file; None (said on standard error) when unreadable."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        progress(f"error: {error}")
        return None


def cmd_audit_witness_key(args: argparse.Namespace) -> int:
    """A witness's side: its verifier key, the key made first when the file is absent."""
    try:
        signer = load_signer(args.key_file, args.name, "--key-file")
    except (OSError, NoteError, ConfigurationError) as error:
        progress(f"error: {error}")
        return EXIT_BAD_INPUT
    print(signer.verifier())
    return 0


def cmd_audit_cosign(args: argparse.Namespace) -> int:
    """A witness's side: check the log's signature, add the witness's own line."""
    note = read_note(args.checkpoint)
    if note is None:
        return EXIT_BAD_INPUT
    if not args.verifier_key and not key_file().exists():
        progress("error: give the log's --verifier-key (this host keeps no log key)")
        return EXIT_BAD_INPUT
    try:
        witness = Signer.parse(args.key_file.read_text(encoding="utf-8"))
        log_key = (
            Verifier.parse(args.verifier_key)
            if args.verifier_key
            else load_signer(key_file()).verifier()
        )
    except (OSError, UnicodeDecodeError, NoteError, ConfigurationError) as error:
        progress(f"error: {error}")
        return EXIT_BAD_INPUT
    try:
        open_checkpoint(note, log_key)
    except NoteError as error:
        progress(f"BAD_SIGNATURE: {error}")
        return EXIT_BAD_SIGNATURE
    print(witness.cosign(note), end="")
    return 0


def cmd_audit_add_cosignature(app: Ledger, args: argparse.Namespace) -> int:
    note = read_note(args.checkpoint)
    if note is None:
        return EXIT_BAD_INPUT
    tree = log_tree(app.recorder)
    log_key = load_signer(key_file()).verifier()
    print(cosigned(tree, add_cosignatures(tree, note, log_key, witness_keys())), end="")
    return 0


def cmd_audit_prove(app: Ledger, args: argparse.Namespace) -> int:
    tree = log_tree(app.recorder)
    try:
        leaf = tree.leaf_at(args.position)
        hashes = tree.inclusion(leaf.index, args.tree_size)
        head = tree.root(args.tree_size)
    except ProofError as error:
        progress(f"error: {error}")
        return EXIT_BAD_INPUT
    emit(
        {
            "position": leaf.position,
            "leaf_index": leaf.index,
            "tree_size": args.tree_size,
            "leaf_hash": b64(leaf.hash),
            "hashes": [b64(h) for h in hashes],
            "root_hash": b64(head),
        },
        args.format,
    )
    return 0


def cmd_audit_prove_consistency(app: Ledger, args: argparse.Namespace) -> int:
    tree = log_tree(app.recorder)
    try:
        hashes = tree.consistency(args.old, args.new)
        roots = tree.root(args.old), tree.root(args.new)
    except ProofError as error:
        progress(f"error: {error}")
        return EXIT_BAD_INPUT
    emit(
        {
            "from": args.old,
            "to": args.new,
            "from_root_hash": b64(roots[0]),
            "to_root_hash": b64(roots[1]),
            "hashes": [b64(h) for h in hashes],
        },
        args.format,
    )
    return 0


def cmd_audit_verify(app: Ledger, args: argparse.Namespace) -> int:
    try:
        note = args.checkpoint.read_text(encoding="utf-8")
        verifier = Verifier.parse(args.verifier_key) if args.verifier_key else None
    except (OSError, UnicodeDecodeError, NoteError) as error:
        progress(f"error: {error}")
        return EXIT_BAD_INPUT
    try:
        checkpoint = open_checkpoint(note, verifier or load_signer(key_file()).verifier())
    except NoteError as error:
        progress(f"BAD_SIGNATURE: {error}")
        return EXIT_BAD_SIGNATURE
    try:
        size = verify_log(log_tree(app.recorder), checkpoint, progress_bar, tree_progress)
    except VerificationError as error:
        failure = error.failure
        where = f"position {failure.position}" if failure.position is not None else "the tree"
        progress(f"{failure.reason}: {where}: {failure.detail}")
        return EXIT_LOG_FAILS
    print(
        f"verified: {checkpoint.size} leaves of the checkpoint, {size} now, every leaf recomputed"
    )
    return 0


def cmd_audit_verify_signature(app: Ledger, args: argparse.Namespace) -> int:
    if (args.position is None) == (args.event_id is None) or (
        args.event_id is not None and not args.agency
    ):
        progress("name EVENT_ID with --agency, or --position")
        return EXIT_BAD_INPUT
    anchors = TrustAnchors.load(args.anchors)
    try:
        if args.position is not None:
            receipt = receipt_at(app, args.position)
        else:
            receipt = find_receipt(app, args.event_id, args.agency)
    except ReceiptNotFoundError as error:
        progress(f"error: {error}")
        return EXIT_BAD_INPUT
    check = verify_receipt(app, receipt, anchors)
    if args.format == "json":
        emit(check.as_dict(), "json")
    else:
        print(f"{check.outcome}: {check.event_id} of {check.agency} ({check.kind} {check.subject})")
        if check.key_id:
            print(f"key {check.key_id} ({check.algorithm}) of {check.signer}")
        if check.reason:
            print(f"{check.reason}: {check.detail}")
    if check.outcome == VERIFIED:
        return 0
    return EXIT_BAD_INPUT if check.outcome == UNSIGNED else EXIT_BAD_SIGNATURE


def parse_moment(text: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        msg = f"{text!r} is not a time with its offset, e.g. 2026-07-01T00:00:00+07:00"
        raise argparse.ArgumentTypeError(msg)
    return moment


def late_line(record: dict[str, Any]) -> str:
    days = record["delay_seconds"] / 86400
    return (
        f"position {record['position']} {record['subject']} {record['topic']}"
        f" by {record['actor']}: recorded {record['recorded_at'].isoformat()},"
        f" {days:.1f} days after the moment it is about"
    )


def correction_lines(correction: dict[str, Any]) -> list[str]:
    what = ", ".join(
        f"{field} {before or '∅'} → {after or '∅'}"
        for field, before, after in correction["changes"]
    )
    which = [
        f"of version {correction['corrects_version']}" if correction["corrects_version"] else "",
        f"as of {correction['as_of']}" if correction["as_of"] else "",
        f"period {correction['period']}" if correction["period"] else "",
    ]
    who = correction["actor"] + (f" ({correction['person']})" if correction["person"] else "")
    why = "; ".join(x for x in (correction["reason"], correction["document"]) if x)
    return [
        (
            f"position {correction['position']} {correction['subject']} {correction['topic']}"
            f" by {who} recorded {correction['recorded_at'].isoformat()}"
        ),
        f"  {what} {' '.join(w for w in which if w)}".rstrip(),
        f"  why: {why}",
    ]


def refused(check: Checker) -> bool:
    """Whether ``check`` found bad arguments (each said on standard error)."""
    for violation in check.violations:
        progress(f"error: {violation.reason}: --{violation.field}: {violation.description}")
    return bool(check.violations)


def plan_or_agency(args: argparse.Namespace) -> tuple[str, str] | None:
    """The one of --plan and --agency given, as the query's (field, value)."""
    check = Checker()
    named = check.one_of(plan=args.plan, agency=args.agency)
    if named == "plan":
        check.plan("plan", args.plan)
    if refused(check):
        return None
    return ("plan_id", args.plan) if named == "plan" else ("agency_id", args.agency)


def cmd_audit_late(app: Ledger, args: argparse.Namespace) -> int:
    named = plan_or_agency(args)
    if named is None:
        return EXIT_BAD_INPUT
    inspection.caught_up_trail(app)
    until = args.known_at + inspection.INSTANT if args.known_at else None
    found = inspection.every(
        lambda after, size: inspection.events(
            app, *named, after, (None, until), size, late_only=True
        )
    )
    if args.format == "json":
        emit([json_safe(record) for record in found], "json")
    else:
        for record in found:
            print(late_line(record))
    return 0


def cmd_audit_corrections(app: Ledger, args: argparse.Namespace) -> int:
    named = plan_or_agency(args)
    if named is None:
        return EXIT_BAD_INPUT
    inspection.caught_up_trail(app)
    window = (args.after + inspection.INSTANT, args.before)
    found = inspection.every(
        lambda after, size: inspection.corrections_after(app, *named, after, window, size)
    )
    if args.format == "json":
        emit([json_safe(correction) for correction in found], "json")
    else:
        for correction in found:
            print("\n".join(correction_lines(correction)))
    return 0


def cmd_audit_inspect(app: Ledger, args: argparse.Namespace) -> int:
    check = Checker()
    check.plan("plan", args.plan)
    if refused(check):
        return EXIT_BAD_INPUT
    inspection.caught_up_trail(app)
    found = inspection.inspect(app, args.plan, args.as_of, args.known_at)
    kept = found.coverage.checkpoint
    checkpoint = (
        {"tree_size": kept.size, "made_at": kept.made_at.isoformat(), "note": kept.note}
        if kept
        else None
    )
    if args.format == "json":
        emit(
            {
                "plan": args.plan,
                "as_of": args.as_of.isoformat(),
                "known_at": args.known_at.isoformat(),
                "status": json_safe(found.status),
                "late_reports": [json_safe(record) for record in found.late_reports],
                "corrections_after": [json_safe(c) for c in found.corrections_after],
                "leaves_known": found.coverage.leaves,
                "covered": kept is not None,
                "checkpoint": checkpoint,
            },
            "json",
        )
        return 0
    print(f"{args.plan} on {args.as_of} as known at {args.known_at.isoformat()}")
    print("\n".join(render_status(plan_status_message(found.status))))
    print(f"late reports known by then: {len(found.late_reports)}")
    for record in found.late_reports:
        print(f"  {late_line(record)}")
    print(f"corrections recorded after: {len(found.corrections_after)}")
    for correction in found.corrections_after:
        print("\n".join(f"  {line}" for line in correction_lines(correction)))
    leaves = found.coverage.leaves
    if kept is None:
        print(
            f"checkpoint: NOT COVERED: no checkpoint kept yet holds the {leaves} leaves known then"
        )
    else:
        print(
            f"checkpoint: tree size {kept.size} (≥ the {leaves} leaves known then),"
            f" made at {kept.made_at.isoformat()}"
        )
        print(kept.note, end="")
    return 0


def roles_from(args: argparse.Namespace) -> dict[str, Any]:
    return roles_of(args.agencies, sorted(args.plans_dir.glob("*.yaml")))


def instance_of(args: argparse.Namespace) -> replication.Instance:
    return replication.Instance(args.data, port=args.port, listen=args.listen)


def cmd_db_standby(args: argparse.Namespace) -> int:
    primary = parse_database_url(args.source, "--from")
    standby = replication.make_standby(
        primary, instance_of(args), args.name, synchronous=args.synchronous
    )
    print(database_url(standby.database(primary.dbname)))
    return 0


def cmd_db_promote(args: argparse.Namespace) -> int:
    promoted = replication.promote(instance_of(args))
    print(database_url(promoted.database(args.dbname)))
    return 0


def cmd_db_stop(args: argparse.Namespace) -> int:
    replication.Instance(args.data).stop()
    return 0


def cmd_db_start(args: argparse.Namespace) -> int:
    replication.Instance(args.data).start(as_configured=True)
    return 0


def cmd_national_rollup(args: argparse.Namespace) -> int:
    prefixes = [p.strip() for p in args.provinces.split(",") if p.strip()]
    try:
        rollup = NationalRollup(prefixes)
        read_to_end(args.bootstrap or KafkaSettings.from_env().bootstrap, rollup)
    except ValueError as error:
        raise ConfigurationError(str(error)) from None
    emit(rollup.summary(), "json")
    return 0


def cmd_pki_init(args: argparse.Namespace) -> int:
    folder = pki_dir()
    if init_pki(folder, roles_from(args)):
        progress(f"a throwaway authority and an identity per agency are in {folder}")
    else:
        progress(f"{folder} holds an authority already: nothing changed")
    print(folder / "ca.pem")
    return 0


def key_summary(app: Ledger, key_id: str) -> dict[str, Any]:
    key = registered_key(app, key_id)
    if key is None:
        return {"key_id": key_id}
    return {
        "key_id": key.key_id,
        "agency": key.agency,
        "role": key.role.value,
        "algorithm": key.algorithm,
        "not_before": key.not_before,
        "not_after": key.not_after,
        "revoked_at": key.revoked_at,
        "revocation_reason": key.revocation_reason,
    }


def show_key(summary: dict[str, Any], fmt: str) -> None:
    if fmt == "json":
        emit(summary, "json")
        return
    state = f"revoked {summary['revoked_at']:%F}" if summary.get("revoked_at") else "active"
    until = summary.get("not_after")
    print(
        f"{summary['key_id']}  {summary.get('agency', '?'):<32} {summary.get('role', '?'):<18} "
        f"{summary.get('algorithm', '?'):<18} until {until:%F}  {state}"
        if until
        else summary["key_id"]
    )


def cmd_keys_register(app: Ledger, args: argparse.Namespace) -> int:
    anchors = TrustAnchors.load(args.anchors)
    for path in args.certificates:
        try:
            data = path.read_bytes()
        except OSError as error:
            progress(f"error: {error}")
            return EXIT_BAD_INPUT
        key = register_key(app, data, anchors, operator())
        show_key(key_summary(app, key.key_id), args.format)
    return 0


def cmd_keys_revoke(app: Ledger, args: argparse.Namespace) -> int:
    key = revoke_key(app, args.key_id, args.reason, operator())
    show_key(key_summary(app, key.key_id), args.format)
    return 0


def registered_key_ids(app: Ledger) -> list[str]:
    """Every key ever registered, in the order of the log."""
    found: list[str] = []
    start = 1
    while True:
        page = app.recorder.select_notifications(start, 1000, topics=[KEY_REGISTERED])
        if not page:
            return found
        found.extend(getattr(app.mapper.to_domain_event(n), "key_id", "") for n in page)
        start = page[-1].id + 1


def cmd_keys_list(app: Ledger, args: argparse.Namespace) -> int:
    for key_id in registered_key_ids(app):
        summary = key_summary(app, key_id)
        if not args.agency or summary.get("agency") == args.agency:
            show_key(summary, args.format)
    return 0


def cmd_keys_enrol(app: Ledger, args: argparse.Namespace) -> int:
    """Register the certificate of every agency of the PKI folder not registered yet."""
    done = enrol_folder(
        app, pki_dir(), roles_from(args), TrustAnchors.load(args.anchors), operator()
    )
    for key in done.registered:
        show_key(key_summary(app, key.key_id), args.format)
    for problem in done.problems:
        progress(problem)
    progress(f"{len(done.registered)} key(s) registered, {done.already} registered before")
    return EXIT_BAD_INPUT if done.problems else 0


@contextlib.contextmanager
def health_of(command: str, app: Ledger) -> Iterator[Vitals]:
    """A background process's vitals — its store and its broker asked too —, served by
    its gRPC health service (``LIENTHONG_HEALTH_ADDRESS``; none when unset) until it stops."""
    bootstrap = KafkaSettings.from_env().bootstrap
    vitals = Vitals(
        app.recorder.max_notification_id, broker_check(bootstrap), grace=grace_from_env()
    )
    server = start_health(command, vitals.serving)
    if server is not None:
        vitals.start_checking()
    try:
        yield vitals
    finally:
        vitals.stopped()
        if server is not None:
            server.stop()


def cmd_ingest_worker(app: Ledger, _: argparse.Namespace) -> int:
    serve_metrics("ingest-worker")
    with health_of("ingest-worker", app) as health:
        run_worker(app, KafkaSettings.from_env(), health)
    return 0


def publishing(command: str, doing: str) -> tuple[KafkaSettings, threading.Event]:
    """A publisher's start: its metrics served, Kafka's settings, and the event SIGINT
    or SIGTERM sets to stop it."""
    serve_metrics(command)
    settings = KafkaSettings.from_env()
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    log.info("%s to %s", doing, settings.bootstrap)
    return settings, stop


def cmd_relay(app: Ledger, _: argparse.Namespace) -> int:
    settings, stop = publishing("relay", "relaying the log")
    with health_of("relay", app) as health:
        Relay(app, kafka_producer(settings.bootstrap), settings.prefix).run(stop.is_set, health)
    return 0


def cmd_reminders(app: Ledger, _: argparse.Namespace) -> int:
    settings, stop = publishing("reminders", "publishing reminders (REPORT_MISSING)")
    with health_of("reminders", app) as health:
        reminders = Reminders(app, kafka_producer(settings.bootstrap), settings.prefix)
        reminders.run(stop.is_set, health=health)
    return 0


def cmd_checkpointer(app: Ledger, _: argparse.Namespace) -> int:
    serve_metrics("checkpointer")
    settings = KafkaSettings.from_env()
    checkpointer = Checkpointer(
        log_tree(app.recorder), load_signer(key_file()), LogLimits.from_env()
    )
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: checkpointer.stop())
    log.info("following the log's tree; checkpoints to %s", settings.bootstrap)
    with health_of("checkpointer", app) as health:
        run_checkpointer(
            app, checkpointer, lambda: kafka_producer(settings.bootstrap), settings.prefix, health
        )
    return 0


def cmd_run(_app: Ledger, _: argparse.Namespace) -> int:
    return run_full()


def cmd_dashboard(args: argparse.Namespace) -> int:
    """The dashboard (a client of the API through the SDK) until SIGINT/SIGTERM."""
    from dashboard.app import serve as serve_dashboard  # noqa: PLC0415 - only this command needs it
    from dashboard.settings import DashboardSettings, SettingsError  # noqa: PLC0415

    settings = DashboardSettings.from_env()
    if args.address:
        settings = dataclasses.replace(settings, address=args.address)
    if args.api:
        settings = dataclasses.replace(settings, api=args.api)
    try:
        settings.check()
    except SettingsError as error:
        print(f"error: CONFIGURATION: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(
        f"Dashboard on http://{settings.address}/ reading {settings.api} as {settings.certificate}"
    )
    serve_dashboard(settings)
    return 0


def cmd_demo(app: Ledger, args: argparse.Namespace) -> int:
    play(app, args.plans_dir, args.agencies, print, args.target)
    return 0


def parse_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        msg = f"{text!r} is not a date YYYY-MM-DD"
        raise argparse.ArgumentTypeError(msg) from None


def add_plans_commands(commands: Any) -> None:
    plans = commands.add_parser("plans", help="import, list and inspect ward plans")
    plan_commands = plans.add_subparsers(dest="plans_command", required=True)

    importing = plan_commands.add_parser("import", help="import plan files (all or nothing)")
    importing.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    importing.add_argument(
        "--agencies",
        type=Path,
        action="append",
        help=f"an agency registry file; repeat for several, read as one (default: "
        f"${AGENCIES_ENV}, else {DEFAULT_REGISTRY})",
    )
    importing.add_argument("--reason", default="", help="why the plans changed (for amendments)")
    importing.add_argument("--format", choices=("text", "json"), default="text")
    importing.set_defaults(run=cmd_import)

    listing = plan_commands.add_parser("list", help="list the plans in the store")
    listing.add_argument("--format", choices=("text", "json"), default="text")
    listing.set_defaults(run=cmd_list)

    showing = plan_commands.add_parser("show", help="print a plan as a plan file")
    showing.add_argument("plan")
    showing.set_defaults(run=cmd_show)

    status = plan_commands.add_parser("status", help="consolidated status of plans")
    status.add_argument("plans", nargs="*", metavar="PLAN")
    add_day_options(status)
    status.set_defaults(run=cmd_status)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lienthong", description=__doc__.split("\n\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the program does")
    commands = parser.add_subparsers(dest="command", required=True)
    add_plans_commands(commands)
    add_judgement_commands(commands)
    add_report_command(commands)
    add_audit_commands(commands)
    add_identity_commands(commands)
    add_replication_commands(commands)
    add_national_commands(commands)

    serving = commands.add_parser("serve", help="run the gRPC API until SIGINT/SIGTERM")
    serving.add_argument(
        "--via-kafka",
        action="store_true",
        help="full mode: Publish produces to Kafka and waits for the verdict",
    )
    serving.add_argument(
        "--plaintext",
        action="store_true",
        help="development only, on loopback: no TLS, anonymous read-only callers",
    )
    serving.add_argument(
        "--address",
        metavar="HOST:PORT",
        help="where to listen (default: $LIENTHONG_GRPC_ADDRESS, else 127.0.0.1:50051)",
    )
    serving.set_defaults(run=cmd_serve)

    projections = commands.add_parser("projections", help="rebuild, catch up or digest a view")
    projection_commands = projections.add_subparsers(dest="projection_command", required=True)
    for name, text in (
        ("rebuild", "drop the view and apply the whole log again (prints the digest)"),
        ("catch-up", "apply what the log gained since the view's position (prints the digest)"),
        ("follow", "catch up, then apply new events as they are recorded, until SIGINT/SIGTERM"),
        ("digest", "print the SHA-256 digest of the view's rows"),
    ):
        command = projection_commands.add_parser(name, help=text)
        command.add_argument("view", nargs="?", help=f"one of: {', '.join(sorted(VIEWS))}")
        command.add_argument(
            "--all", action="store_true", help="every view, in one pass over the log"
        )
        command.set_defaults(run=cmd_projection)

    worker = commands.add_parser(
        "ingest-worker", help="consume agency-events from Kafka into the store"
    )
    worker.set_defaults(run=cmd_ingest_worker)

    relay = commands.add_parser("relay", help="publish the store's log to coordination-events")
    relay.set_defaults(run=cmd_relay)

    checkpointing = commands.add_parser(
        "checkpointer",
        help="follow the log with its tree, sign checkpoints and publish them to log-checkpoints",
    )
    checkpointing.set_defaults(run=cmd_checkpointer)

    full = commands.add_parser(
        "run", help="full mode: the API, the ingest worker, the relay and the checkpointer"
    )
    full.set_defaults(run=cmd_run)

    demo = commands.add_parser("demo", help="import the four plans and play a scripted quarter")
    demo.add_argument("--plans-dir", type=Path, default=DEFAULT_PLANS)
    demo.add_argument("--agencies", type=Path, default=DEFAULT_REGISTRY)
    demo.add_argument(
        "--target",
        default="",
        help="play against this running API (e.g. full mode) instead of an in-process one",
    )
    demo.set_defaults(run=cmd_demo)
    add_dashboard_command(commands)
    return parser


def add_dashboard_command(commands: Any) -> None:
    reminding = commands.add_parser(
        "reminders", help="publish reminders of the reports units owe (REPORT_MISSING) to Kafka"
    )
    reminding.set_defaults(run=cmd_reminders)
    dashboard = commands.add_parser(
        "dashboard", help="the read-only live dashboard (a client of the gRPC API)"
    )
    dashboard.add_argument(
        "--address", default="", help="HOST:PORT to listen on (LIENTHONG_DASHBOARD_ADDRESS)"
    )
    dashboard.add_argument(
        "--api", default="", help="HOST:PORT of the gRPC API (LIENTHONG_DASHBOARD_API)"
    )
    dashboard.set_defaults(offline=cmd_dashboard)


def add_day_options(parser: Any) -> None:
    """--as-of and --known-at, as every read of the API takes them."""
    parser.add_argument(
        "--as-of",
        type=parse_date,
        default=ward_today(),
        help="the day: what the reports said about it (default: the ward's today)",
    )
    parser.add_argument(
        "--known-at",
        type=parse_moment,
        default=None,
        metavar="TIME",
        help="only what was recorded up to this time (default: everything)",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")


def add_judgement_commands(commands: Any) -> None:
    flags = commands.add_parser("flags", help="the red flags up on a day, on a plan or an agency's")
    flags.add_argument("--plan", default="")
    flags.add_argument("--agency", default="", help="the items this agency leads, in every plan")
    flags.add_argument(
        "--include-cleared", action="store_true", help="the whole raise/clear history"
    )
    add_day_options(flags)
    flags.set_defaults(run=cmd_flags)
    missing = commands.add_parser(
        "missing", help="the reports owed on a day (đôn đốc), on a plan or an agency's"
    )
    missing.add_argument("--plan", default="")
    missing.add_argument("--agency", default="", help="the items this agency leads, in every plan")
    add_day_options(missing)
    missing.set_defaults(run=cmd_missing)
    scores = commands.add_parser("scores", help="units ranked by score on a day, collectives apart")
    scores.add_argument("--plan", default="", help="only the tasks of this plan")
    add_day_options(scores)
    scores.set_defaults(run=cmd_scores)


def add_report_command(commands: Any) -> None:
    report = commands.add_parser(
        "report", help="a plan's periodic report in Vietnamese (báo cáo định kỳ), XLSX or PDF"
    )
    report.add_argument("--plan", required=True)
    report.add_argument(
        "--period", required=True, help="a month 2026-03, a quarter 2026-Q1, 2026-H1 or 2026"
    )
    report.add_argument("--format", default="xlsx", help="xlsx (default) or pdf")
    report.add_argument(
        "--known-at",
        "--as-known-at",
        type=parse_moment,
        default=None,
        metavar="TIME",
        help="only what was recorded up to this time (default: everything recorded)",
    )
    report.add_argument(
        "--output", type=Path, default=None, help="the file (default: bao-cao-PLAN-PERIOD.FORMAT)"
    )
    report.set_defaults(run=cmd_report)


def add_audit_commands(commands: Any) -> None:
    audit = commands.add_parser("audit", help="signed checkpoints and proofs of the log")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    checkpoint = audit_commands.add_parser(
        "checkpoint", help="bring the tree up to date, sign, keep and print a checkpoint"
    )
    checkpoint.set_defaults(run=cmd_audit_checkpoint)
    verifier = audit_commands.add_parser("verifier-key", help="print the note verifier key")
    verifier.set_defaults(run=cmd_audit_verifier_key)
    add_witness_commands(audit_commands)
    status = audit_commands.add_parser(
        "status", help="the tree's size, its lag behind the log, the latest checkpoint's age"
    )
    status.add_argument("--format", choices=("text", "json"), default="text")
    status.set_defaults(run=cmd_audit_status)
    prove = audit_commands.add_parser("prove", help="inclusion proof of a position")
    prove.add_argument("--position", type=int, required=True)
    prove.add_argument("--tree-size", type=int, required=True)
    prove.add_argument("--format", choices=("text", "json"), default="text")
    prove.set_defaults(run=cmd_audit_prove)
    consistency = audit_commands.add_parser(
        "prove-consistency", help="consistency proof between two tree sizes"
    )
    consistency.add_argument("--from", dest="old", type=int, required=True)
    consistency.add_argument("--to", dest="new", type=int, required=True)
    consistency.add_argument("--format", choices=("text", "json"), default="text")
    consistency.set_defaults(run=cmd_audit_prove_consistency)
    verify = audit_commands.add_parser(
        "verify", help="verify the whole store against a checkpoint saved earlier"
    )
    verify.add_argument("--checkpoint", type=Path, required=True, metavar="FILE")
    verify.add_argument(
        "--verifier-key", default="", help="the key to check it with (default: this log's own)"
    )
    verify.set_defaults(run=cmd_audit_verify)
    signature = audit_commands.add_parser(
        "verify-signature",
        help="verify a stored submission's signature again, offline, with the log's certificate",
    )
    signature.add_argument("event_id", nargs="?", metavar="EVENT_ID")
    signature.add_argument("--agency", default="", help="the agency that sent EVENT_ID")
    signature.add_argument(
        "--position", type=int, help="the log position of the receipt or of an event it recorded"
    )
    signature.add_argument(
        "--anchors",
        type=Path,
        default=None,
        help="trust anchors (default: LIENTHONG_TRUST_ANCHORS)",
    )
    signature.add_argument("--format", choices=("text", "json"), default="text")
    signature.set_defaults(run=cmd_audit_verify_signature)
    add_audit_question_commands(audit_commands)


def add_witness_commands(audit_commands: Any) -> None:
    """A witness's side (its key, cosigning) and the log's (keeping cosignatures)."""
    witness = audit_commands.add_parser(
        "witness-key", help="a witness's side: print its verifier key (made if absent)"
    )
    witness.add_argument("--key-file", type=Path, required=True, metavar="FILE")
    witness.add_argument("--name", default="witness", help="the key's name, for a new key")
    witness.set_defaults(offline=cmd_audit_witness_key)
    cosign = audit_commands.add_parser(
        "cosign", help="a witness's side: check a checkpoint's signature and cosign it"
    )
    cosign.add_argument("--key-file", type=Path, required=True, metavar="FILE")
    cosign.add_argument("--checkpoint", type=Path, required=True, metavar="FILE")
    cosign.add_argument(
        "--verifier-key", default="", help="the log's verifier key (default: this log's own)"
    )
    cosign.set_defaults(offline=cmd_audit_cosign)
    adding = audit_commands.add_parser(
        "add-cosignature", help="keep the witnesses' cosignatures of a checkpoint this log kept"
    )
    adding.add_argument("--checkpoint", type=Path, required=True, metavar="FILE")
    adding.set_defaults(run=cmd_audit_add_cosignature)


def add_audit_question_commands(audit_commands: Any) -> None:
    """The auditors' questions: late records, corrections, the inspection."""
    late = audit_commands.add_parser(
        "late", help="the late records of a plan or by an agency (recorded > a week late)"
    )
    late.add_argument("--plan", default="")
    late.add_argument("--agency", default="")
    late.add_argument("--known-at", type=parse_moment, help="recorded up to this time only")
    late.add_argument("--format", choices=("text", "json"), default="text")
    late.set_defaults(run=cmd_audit_late)
    corrections = audit_commands.add_parser(
        "corrections",
        help="corrections of a plan or by an agency recorded after a time, and what they replaced",
    )
    corrections.add_argument("--plan", default="")
    corrections.add_argument("--agency", default="")
    corrections.add_argument("--after", type=parse_moment, required=True, metavar="TIME")
    corrections.add_argument("--before", type=parse_moment, default=None, metavar="TIME")
    corrections.add_argument("--format", choices=("text", "json"), default="text")
    corrections.set_defaults(run=cmd_audit_corrections)
    inspect = audit_commands.add_parser(
        "inspect",
        help="a plan's status on a day as known at a time, the corrections after, the late"
        " records, and the checkpoint that covers it",
    )
    inspect.add_argument("--plan", required=True)
    inspect.add_argument("--as-of", type=parse_date, required=True)
    inspect.add_argument("--known-at", type=parse_moment, required=True, metavar="TIME")
    inspect.add_argument("--format", choices=("text", "json"), default="text")
    inspect.set_defaults(run=cmd_audit_inspect)


def add_identity_commands(commands: Any) -> None:
    pki = commands.add_parser("pki", help="a throwaway certificate authority")
    pki_commands = pki.add_subparsers(dest="pki_command", required=True)
    init = pki_commands.add_parser(
        "init", help="make the authority and every agency's identity in LIENTHONG_PKI_DIR, once"
    )
    init.add_argument("--agencies", type=Path, default=DEFAULT_REGISTRY)
    init.add_argument("--plans-dir", type=Path, default=DEFAULT_PLANS)
    init.set_defaults(offline=cmd_pki_init)

    keys = commands.add_parser("keys", help="register, revoke and list agencies' signing keys")
    key_commands = keys.add_subparsers(dest="keys_command", required=True)

    register = key_commands.add_parser("register", help="register certificates as signing keys")
    register.add_argument("certificates", nargs="+", type=Path, metavar="CERT_FILE")
    register.add_argument("--anchors", type=Path, default=None, help=ANCHORS_HELP)
    register.add_argument("--format", choices=("text", "json"), default="text")
    register.set_defaults(run=cmd_keys_register)
    revoke = key_commands.add_parser("revoke", help="revoke a key: it signs nothing from now on")
    revoke.add_argument("key_id", metavar="KEY_ID")
    revoke.add_argument("--reason", required=True)
    revoke.add_argument("--format", choices=("text", "json"), default="text")
    revoke.set_defaults(run=cmd_keys_revoke)
    listing = key_commands.add_parser("list", help="every key ever registered, and its state")
    listing.add_argument("--agency", default="")
    listing.add_argument("--format", choices=("text", "json"), default="text")
    listing.set_defaults(run=cmd_keys_list)
    enrol = key_commands.add_parser(
        "enrol", help="register the PKI folder's agency certificates not registered yet"
    )
    enrol.add_argument("--agencies", type=Path, default=DEFAULT_REGISTRY)
    enrol.add_argument("--plans-dir", type=Path, default=DEFAULT_PLANS)
    enrol.add_argument("--anchors", type=Path, default=None, help=ANCHORS_HELP)
    enrol.add_argument("--format", choices=("text", "json"), default="text")
    enrol.set_defaults(run=cmd_keys_enrol)


# The long-running processes: they log at INFO, and serve their metrics.
PROCESSES = (cmd_serve, cmd_ingest_worker, cmd_relay, cmd_checkpointer, cmd_run, cmd_reminders)


def add_replication_commands(commands: Any) -> None:
    db = commands.add_parser("db", help="a hot standby of the store: make, promote, stop")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    standby = db_commands.add_parser(
        "standby",
        help="make and start a hot standby of a primary (pg_basebackup -R, a slot), "
        "then make the primary's commits wait for it; prints its URL",
    )
    standby.add_argument("--from", dest="source", required=True, metavar="URL")
    standby.add_argument("--name", default="standby1", help="its name (and slot's) at the primary")
    standby.add_argument(
        "--synchronous",
        default=replication.DEFAULT_SYNCHRONOUS,
        choices=replication.SYNCHRONOUS_LEVELS,
        help="the primary's synchronous_commit (off: asynchronous, nothing waited for)",
    )
    promote = db_commands.add_parser(
        "promote", help="make the standby in DIR the primary (the primary died); prints its URL"
    )
    promote.add_argument("--dbname", default="lienthong", help="the database named in the URL")
    for command in (standby, promote):
        command.add_argument("--data", type=Path, required=True, help="the standby's data folder")
        command.add_argument("--port", type=int, default=5432, help="its port (default 5432)")
        command.add_argument(
            "--listen",
            default="",
            metavar="ADDRS",
            help="TCP addresses to listen on (default: none, its Unix socket in DIR only)",
        )
    standby.set_defaults(offline=cmd_db_standby)
    promote.set_defaults(offline=cmd_db_promote)
    stop = db_commands.add_parser("stop", help="stop the server in DIR (a standby, say)")
    stop.add_argument("--data", type=Path, required=True)
    stop.set_defaults(offline=cmd_db_stop)
    start = db_commands.add_parser(
        "start", help="start the standby in DIR again (a reboot), as it was made"
    )
    start.add_argument("--data", type=Path, required=True)
    start.set_defaults(offline=cmd_db_start)


def add_national_commands(commands: Any) -> None:
    national = commands.add_parser("national", help="the nation's view of every province")
    national_commands = national.add_subparsers(dest="national_command", required=True)
    rollup = national_commands.add_parser(
        "rollup",
        help="read every province's coordination-events to its end; print the national "
        "rollup (JSON)",
    )
    rollup.add_argument(
        "--provinces",
        required=True,
        metavar="PREFIX,PREFIX…",
        help="the provinces' LIENTHONG_TOPIC_PREFIX values, comma-separated",
    )
    rollup.add_argument(
        "--bootstrap", default="", help="the Kafka cluster (default: LIENTHONG_KAFKA_BOOTSTRAP)"
    )
    rollup.set_defaults(offline=cmd_national_rollup)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # A long-running process logs what it does; a command only its warnings (or -v).
    process = getattr(args, "run", None) in PROCESSES
    try:
        setup_logging(logging.INFO if args.verbose or process else logging.WARNING)
    except ConfigurationError as error:
        print(f"error: CONFIGURATION: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    offline: Callable[[argparse.Namespace], int] | None = getattr(args, "offline", None)
    try:
        if offline is not None:  # needs no store
            return offline(args)
        run: Callable[[Ledger, argparse.Namespace], int] = args.run
        with open_database() as database:
            return run(Ledger(env=database.eventsourcing_env()), args)
    except DomainError as error:
        print(f"error: {error.code}: {vietnamese(error.code)} — {error.message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except ConfigurationError as error:
        print(f"error: CONFIGURATION: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except replication.ReplicationError as error:
        print(f"error: REPLICATION: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

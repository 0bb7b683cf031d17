"""A seeded, reproducible synthetic load derived from the four seed plans.

The *world* is ``wards`` synthetic wards; ward ``w`` is a copy of seed plan
``w % 4`` (``data/plans/*.yaml``) and of that ward's agencies in
``data/agencies.yaml``, every id renamed with a ward suffix: plan
``phuoc-binh-2026`` becomes ``phuoc-binh-w00042-2026``, agency ``phuoc-binh.vhxh``
becomes ``phuoc-binh-w00042.vhxh``. The four seed plans hold 210 tasks and
indicators, so ``wards_for(100_000)`` wards give about 100,000 subjects.

The *load* is what the ward agencies publish to ``agency-events`` over a reporting
month (or several): every subject becomes active on a random day and then reports
on later days with a fixed probability, so the stream interleaves all subjects the
way a month does. The mix follows what agencies and the coordination office send:
progress reports and contributions on tasks, measurements on indicators, evidence,
completion claims, reviews (evidence accepted or rejected, completion confirmed),
obstacles raised and resolved — and a few bad submissions (undecodable bytes, an
agency reporting on another's task, an unknown subject, progress going down, a
measurement in the wrong unit) and re-sent envelopes (duplicates).

Each envelope is built with the SDK's builders (:mod:`lienthong_sdk.envelopes`) and
serialised as :class:`lienthong_sdk.kafka.KafkaPublisher` sends it (key: the
subject; value: the envelope's bytes). Each comes with the outcome the domain rules
give it (``accepted``, ``rejected`` or ``duplicate``), so a benchmark can check that
what it measured also did the right thing. Everything is generated from ``seed``:
the same spec gives the same bytes.

    python -m bench.dataset --subjects 100000 --events 200000 --seed 57   # describe it
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import random
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from domain.clock import WARD_TIME
from domain.units import UnitKind, parse_unit
from lienthong_sdk import envelopes
from lienthong_sdk.evidence import Evidence
from services.app import importer
from services.app.ledger import Ledger
from services.app.planfile import PlanFile, Registry, read_plan, read_registry
from services.store.recorder import insert_events

ROOT = Path(__file__).resolve().parent.parent
PLANS = sorted((ROOT / "data" / "plans").glob("*.yaml"))
REGISTRY = ROOT / "data" / "agencies.yaml"

MONTH_START = dt.date(2026, 3, 1)  # the reporting month the load plays


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    DUPLICATE = "duplicate"


@dataclass(frozen=True)
class Spec:
    """What to generate. ``wards`` synthetic wards; ``events`` envelopes over ``days``
    days; ``bad`` the share of bad submissions, ``duplicates`` the share of re-sent
    envelopes; ``coverage`` the share of subjects that report at least once."""

    wards: int
    events: int
    seed: int = 57
    days: int = 30
    bad: float = 0.015
    duplicates: float = 0.005
    coverage: float = 1.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "wards": self.wards,
            "events": self.events,
            "seed": self.seed,
            "days": self.days,
            "first_day": MONTH_START.isoformat(),
            "bad_share": self.bad,
            "duplicate_share": self.duplicates,
            "coverage": self.coverage,
        }


Signing = Callable[[envelopes.Envelope], None]  # signs an envelope in place


@dataclass(frozen=True)
class Message:
    """One Kafka record as an agency system publishes it, and what should become of it."""

    key: bytes
    value: bytes
    expect: Outcome
    kind: str  # the payload kind, or "undecodable"


# The world ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Template:
    """One seed plan, read and checked once, and its ward's agencies."""

    plan: PlanFile
    ward: str
    agencies: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class Subject:
    """A task or indicator of a synthetic ward, with who may report on it."""

    ref: str
    is_task: bool
    reporters: tuple[str, ...]  # concrete agencies that lead it (members of collectives)
    helpers: tuple[str, ...]  # coordinating agencies of a task (contributions)
    reviewer: str  # the office, or the steering committee for the office's own items
    unit: str = ""
    level: bool = False


def reviewer_of(header: dict[str, Any], named: list[str]) -> str:
    """Who reviews an item naming ``named`` as its units: the coordination office, or
    for the office's own items the plan's steering committee (nobody reviews its own
    work; the reviewer is left out of the item's reporters, so it never is)."""
    office = str(header["coordinator"])
    return str(header.get("steering_committee", office)) if office in named else office


def templates() -> list[Template]:
    registry = read_registry(REGISTRY)
    found = []
    for path in PLANS:
        plan = read_plan(path, registry)
        if plan.problems or registry.problems:
            msg = f"{path}: {[str(p) for p in plan.problems + registry.problems][:3]}"
            raise ValueError(msg)
        ward = plan.header["ward_id"]
        agencies = {k: v for k, v in registry.agencies.items() if v.get("ward") == ward}
        found.append(Template(plan, ward, agencies))
    return found


def ward_suffix(index: int) -> str:
    return f"w{index:05d}"


def renamer(template: Template, index: int) -> Callable[[Any], Any]:
    """Renames, anywhere in a plain value, the ward, its agencies and its plan."""
    ward = f"{template.ward}-{ward_suffix(index)}"
    names = {a: a.replace(template.ward, ward, 1) for a in template.agencies}
    names[template.ward] = ward
    names[template.plan.key] = template.plan.key.replace(template.ward, ward, 1)

    def rename(value: Any) -> Any:
        if isinstance(value, str):
            return names.get(value, value)
        if isinstance(value, list):
            return [rename(v) for v in value]
        if isinstance(value, dict):
            return {k: rename(v) for k, v in value.items()}
        return value

    return rename


@dataclass
class World:
    """``wards`` copies of the seed plans, as plan files, a registry and subjects."""

    wards: int
    templates: list[Template] = field(default_factory=templates)

    def template(self, index: int) -> Template:
        return self.templates[index % len(self.templates)]

    def plan_file(self, index: int) -> PlanFile:
        template = self.template(index)
        rename = renamer(template, index)
        plan = template.plan
        return PlanFile(
            file=f"synthetic/{ward_suffix(index)}/{Path(plan.file).name}",
            sha256=hashlib.sha256(f"{plan.sha256}:{index}".encode()).hexdigest(),
            key=rename(plan.key),
            header=rename(plan.header),
            indicators=rename(plan.indicators),
            tasks=rename(plan.tasks),
            problems=[],
        )

    def registry(self, indices: range) -> Registry:
        agencies: dict[str, dict[str, Any]] = {}
        for index in indices:
            template = self.template(index)
            rename = renamer(template, index)
            for key, record in template.agencies.items():
                agencies[rename(key)] = rename(record)
        return Registry(f"synthetic/registry-{indices.start}-{indices.stop}", agencies, [])

    def subjects(self) -> list[Subject]:
        """Every task and indicator someone can report on, ward by ward."""
        found: list[Subject] = []
        for index in range(self.wards):
            template = self.template(index)
            rename = renamer(template, index)
            members = {
                rename(k): tuple(rename(m) for m in v.get("members", ()))
                for k, v in template.agencies.items()
            }
            kinds = {rename(k): v.get("kind") for k, v in template.agencies.items()}

            def concrete(units: list[str], members: Any = members, kinds: Any = kinds) -> list[str]:
                out: list[str] = []
                for unit in units:
                    out.extend(members.get(unit, ()) if kinds.get(unit) == "collective" else [unit])
                return list(dict.fromkeys(out))

            plan = self.plan_file(index)
            for key, definition in plan.task_definitions():
                named = definition.get("lead", []) + definition.get("coordinating", [])
                reviewer = reviewer_of(plan.header, named)
                reporters = [r for r in concrete(definition.get("lead", [])) if r != reviewer]
                if definition.get("group") or not reporters:
                    continue
                helpers = [h for h in concrete(definition.get("coordinating", [])) if h != reviewer]
                found.append(
                    Subject(
                        f"{plan.key}/task/{key}",
                        is_task=True,
                        reporters=tuple(reporters),
                        helpers=tuple(h for h in helpers if h not in reporters),
                        reviewer=reviewer,
                    )
                )
            for number, definition in plan.indicator_definitions():
                reviewer = reviewer_of(plan.header, definition.get("lead", []))
                units = definition.get("lead", []) + definition.get("monitor", [])
                reporters = [r for r in concrete(units) if r != reviewer]
                if definition.get("group") or not reporters or not definition.get("unit"):
                    continue
                unit = definition["unit"]
                found.append(
                    Subject(
                        f"{plan.key}/indicator/{number}",
                        is_task=False,
                        reporters=tuple(reporters),
                        helpers=(),
                        reviewer=reviewer,
                        unit=unit,
                        level=parse_unit(unit).kind is UnitKind.LEVEL,
                    )
                )
        return found


SUBJECTS_PER_FOUR_WARDS = 194  # reportable subjects of the four seed plans (World(4).subjects())


def wards_for(subjects: int) -> int:
    """How many synthetic wards hold at least ``subjects`` reportable subjects."""
    return max(1, -(-subjects * 4 // SUBJECTS_PER_FOUR_WARDS))


# The load ----------------------------------------------------------------------------


@dataclass
class State:
    """What the generator remembers of one subject, to send only what fits the rules."""

    subject: Subject
    start: int
    percent: int = 0
    evidence: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)  # submitted, not judged
    accepted: list[str] = field(default_factory=list)
    claimed: bool = False
    claim: list[str] = field(default_factory=list)  # evidence the open claim cites
    completed: bool = False
    obstacles: dict[str, str] = field(default_factory=dict)  # id → who raised it
    raised: int = 0


class Generator:
    """Plays the load of ``spec`` over ``world``; yields :class:`Message` in order."""

    def __init__(self, spec: Spec, world: World | None = None, sign: Signing | None = None) -> None:
        self.spec = spec
        self.world = world or World(spec.wards)
        self.sign = sign  # signs each envelope (in place) by the agency it names
        self.rng = random.Random(spec.seed)  # noqa: S311 - a reproducible load, not secrets
        self.counts: dict[str, int] = {}
        self.recent: list[bytes] = []

    def event_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def digest(self) -> str:
        return f"{self.rng.getrandbits(256):064x}"

    def header(self, agency: str, day: dt.date) -> dict[str, Any]:
        minute = self.rng.randrange(7 * 60, 17 * 60)
        at = dt.datetime.combine(day, dt.time(minute // 60, minute % 60), WARD_TIME)
        return {"agency_id": agency, "event_id": self.event_id(), "occurred_at": at}

    def messages(self) -> Iterator[Message]:
        spec, rng = self.spec, self.rng
        subjects = self.world.subjects()
        states = [State(s, rng.randrange(spec.days)) for s in subjects]
        rng.shuffle(states)
        active = [s for s in states if rng.random() < spec.coverage]
        good = spec.events * (1 - spec.bad - spec.duplicates)
        # Some days a subject has nothing to say (it is completed): ask a little more often.
        later = 1.1 * max(0.0, (good / max(1, len(active)) - 1) / max(1.0, (spec.days - 1) / 2))
        starting = min(1.0, good / max(1, len(active)))
        produced = 0
        for offset in range(spec.days):
            day = MONTH_START + dt.timedelta(days=offset)
            for state in active:
                if produced >= spec.events:
                    return
                if state.start == offset:
                    if rng.random() >= starting:
                        continue
                elif state.start > offset or rng.random() >= later:
                    continue
                message = self.next_message(state, states, day)
                if message is None:
                    continue
                produced += 1
                self.count(message)
                yield message
        while produced < spec.events:  # a short month: top up with re-sent envelopes
            produced += 1
            message = self.resend(self.rng.choice(states))
            self.count(message)
            yield message

    def count(self, message: Message) -> None:
        for name in (f"expect_{message.expect.value}", message.kind):
            self.counts[name] = self.counts.get(name, 0) + 1

    def next_message(self, state: State, states: list[State], day: dt.date) -> Message | None:
        roll = self.rng.random()
        if roll < self.spec.duplicates and self.recent:
            return self.resend(state)
        if roll < self.spec.duplicates + self.spec.bad:
            return self.bad(state, states, day)
        message = self.good(state, day)
        if message is not None:
            if len(self.recent) < 1000:  # noqa: PLR2004 - a window of envelopes to re-send
                self.recent.append(message.value)
            else:
                self.recent[self.rng.randrange(1000)] = message.value
        return message

    def resend(self, state: State) -> Message:
        if not self.recent:
            return self.bad(state, [state], MONTH_START)
        value = self.rng.choice(self.recent)
        key = envelopes.Envelope.FromString(value).subject.encode()
        return Message(key, value, Outcome.DUPLICATE, "duplicate")

    def envelope(self, built: envelopes.Envelope, expect: Outcome = Outcome.ACCEPTED) -> Message:
        kind = built.WhichOneof("payload") or ""
        if self.sign is not None:
            self.sign(built)
        return Message(built.subject.encode(), built.SerializeToString(), expect, kind)

    def good(self, state: State, day: dt.date) -> Message | None:  # noqa: C901, PLR0911
        s, rng = state.subject, self.rng
        lead = rng.choice(s.reporters)
        ref = s.ref
        if state.completed:
            return None
        roll = rng.random()
        if state.pending and roll < 0.12:  # noqa: PLR2004 - the office reviews evidence
            sha = state.pending.pop(0)
            if rng.random() < 0.25:  # noqa: PLR2004
                reason = "Văn bản chưa ký, chưa đóng dấu"
                built = envelopes.evidence_rejected(
                    ref, sha256=sha, reason=reason, **self.header(s.reviewer, day)
                )
                state.claimed = False  # any rejection returns the item for completion
                state.claim = []
            else:
                built = envelopes.evidence_accepted(
                    ref, sha256=sha, quality="good", **self.header(s.reviewer, day)
                )
                state.accepted.append(sha)
            return self.envelope(built)
        confirmable = state.claimed and any(e in state.accepted for e in state.claim)
        if confirmable and roll < 0.2:  # noqa: PLR2004
            state.completed = True
            built = envelopes.completion_confirmed(
                ref, note="Minh chứng hợp lệ", **self.header(s.reviewer, day)
            )
            return self.envelope(built)
        if state.obstacles and roll < 0.25:  # noqa: PLR2004
            obstacle, raiser = next(iter(state.obstacles.items()))
            del state.obstacles[obstacle]
            built = envelopes.obstacle_resolved(
                ref,
                obstacle_id=obstacle,
                resolution="Đã được cấp quyền",
                **self.header(raiser, day),
            )
            return self.envelope(built)
        if 0.25 <= roll < 0.29:  # noqa: PLR2004 - a few obstacles
            state.raised += 1
            obstacle = f"ob-{state.raised}"
            state.obstacles[obstacle] = lead
            built = envelopes.obstacle_raised(
                ref,
                obstacle_id=obstacle,
                kind=rng.choice(("difficulty", "blocker")),
                description="Chưa được cấp quyền kết nối dữ liệu",
                **self.header(lead, day),
            )
            return self.envelope(built)
        if 0.29 <= roll < 0.37 and not state.claimed:  # noqa: PLR2004 - evidence, then a claim
            proof = Evidence(
                self.digest(),
                f"https://evidence.example.vn/{day.isoformat()}/{rng.randrange(10**6)}.pdf",
                "application/pdf",
                "Văn bản kết quả thực hiện",
            )
            state.evidence.append(proof.sha256)
            state.pending.append(proof.sha256)
            # A task is claimed complete once well advanced; an indicator is not: the
            # domain refuses its claim unless its latest measurement meets its target
            # (KPI_TARGET_NOT_MET), which these random values seldom do.
            if s.is_task and state.percent >= 80:  # noqa: PLR2004
                state.claimed = True
                state.claim = [proof.sha256]
                built = envelopes.completion_claimed(
                    ref, evidence=proof, note="Đã hoàn thành", **self.header(lead, day)
                )
            else:
                built = envelopes.evidence_submitted(ref, evidence=proof, **self.header(lead, day))
            return self.envelope(built)
        if not s.is_task:
            value: str = "Khá" if s.level else f"{rng.randrange(0, 1000) / 10:g}"
            built = envelopes.indicator_measured(
                ref,
                value=value.replace(".", ","),
                unit=s.unit,
                period=day.strftime("%Y-%m"),
                as_of=day,
                **self.header(lead, day),
            )
            return self.envelope(built)
        if s.helpers and roll < 0.55:  # noqa: PLR2004
            built = envelopes.contribution_reported(
                ref,
                percent=rng.randrange(10, 101, 10),
                as_of=day,
                note="Phần việc phối hợp",
                **self.header(rng.choice(s.helpers), day),
            )
            return self.envelope(built)
        state.percent = min(100, state.percent + rng.randrange(5, 21))
        built = envelopes.progress_reported(
            ref,
            percent=state.percent,
            as_of=day,
            note="Báo cáo tiến độ tháng",
            **self.header(lead, day),
        )
        return self.envelope(built)

    def bad(self, state: State, states: list[State], day: dt.date) -> Message:
        """A submission the rules refuse; it changes nothing the generator remembers."""
        s, rng = state.subject, self.rng
        choice = rng.randrange(5)
        if choice == 0:
            junk = bytes(rng.getrandbits(8) for _ in range(rng.randrange(8, 64)))
            return Message(s.ref.encode(), b"\x00\xff" + junk, Outcome.REJECTED, "undecodable")
        if choice == 1:  # an agency of another ward reports on this item
            stranger = rng.choice(rng.choice(states).subject.reporters)
            if stranger.split(".", 1)[0] == s.ref.split("/", 1)[0].rsplit("-", 1)[0]:
                stranger = "unknown.agency"
            built = envelopes.progress_reported(
                s.ref, percent=50, as_of=day, **self.header(stranger, day)
            )
            return self.envelope(built, Outcome.REJECTED)
        if choice == 2:  # noqa: PLR2004 - a subject the plan does not have
            plan = s.ref.split("/", 1)[0]
            built = envelopes.progress_reported(
                f"{plan}/task/99.z", percent=10, as_of=day, **self.header(s.reporters[0], day)
            )
            return self.envelope(built, Outcome.REJECTED)
        if choice == 3 and s.is_task and state.percent > 0 and not state.completed:  # noqa: PLR2004
            built = envelopes.progress_reported(
                s.ref, percent=state.percent - 1, as_of=day, **self.header(s.reporters[0], day)
            )
            return self.envelope(built, Outcome.REJECTED)
        if not s.is_task and not state.completed:
            built = envelopes.indicator_measured(
                s.ref,
                value="3",
                unit="triệu đồng" if s.unit != "triệu đồng" else "%",
                period=day.strftime("%Y-%m"),
                as_of=day,
                **self.header(s.reporters[0], day),
            )
            return self.envelope(built, Outcome.REJECTED)
        built = envelopes.progress_reported(
            s.ref, percent=150, as_of=day, **self.header(s.reporters[0], day)
        )
        return self.envelope(built, Outcome.REJECTED)


@dataclass
class Dataset:
    """A spec, its world and the messages it plays (generated on each iteration)."""

    spec: Spec
    world: World = field(init=False)
    counts: dict[str, int] = field(default_factory=dict)
    sign: Signing | None = None  # envelopes signed as they are generated (bench/signing.py)

    def __post_init__(self) -> None:
        self.world = World(self.spec.wards)

    def messages(self) -> Iterator[Message]:
        generator = Generator(self.spec, self.world, self.sign)
        yield from generator.messages()
        self.counts = dict(sorted(generator.counts.items()))

    def materialise(self, progress: Callable[[int], None] = lambda _: None) -> list[Message]:
        found = []
        for message in self.messages():
            found.append(message)
            if len(found) % 10_000 == 0:
                progress(len(found))
        return found

    def describe(self, subjects: int | None = None) -> dict[str, Any]:
        return {
            **self.spec.as_dict(),
            "derived_from": [p.name for p in PLANS],
            "plans": self.spec.wards,
            "subjects": subjects if subjects is not None else len(self.world.subjects()),
            "counts": self.counts,
            "generator": "bench/dataset.py",
        }


def seed_store(
    app: Ledger, world: World, progress: Callable[[str], None] = lambda _: None, chunk: int = 20
) -> int:
    """Record the world's agencies and plans as the importer does (``import_plans``),
    ``chunk`` wards per transaction; returns how many events were recorded."""
    recorded = 0
    for start in range(0, world.wards, chunk):
        wards = range(start, min(world.wards, start + chunk))
        batch = importer.Batch(app, "")
        importer._register_agencies(batch, world.registry(wards), importer.ImportReport())  # noqa: SLF001
        for index in wards:
            importer._prepare_plan(batch, world.plan_file(index), "")  # noqa: SLF001
        events = [e for a in batch.aggregates for e in a.collect_events()]
        recorded += len(events)
        insert_events(app.recorder, [app.mapper.to_stored_event(e) for e in events])
        progress(f"seeded {wards.stop}/{world.wards} wards ({recorded} events)")
    return recorded


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subjects", type=int, default=2_000)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=57)
    args = parser.parse_args(argv)
    dataset = Dataset(Spec(wards=wards_for(args.subjects), events=args.events, seed=args.seed))
    size = sum(len(m.value) for m in dataset.messages())
    description = dataset.describe()
    json.dump({**description, "bytes": size}, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

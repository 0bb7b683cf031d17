"""Every event version ever stored keeps loading: the saved samples in
``tests/fixtures/events/`` must deserialise into today's classes, and every event
class at its current version must have a sample on file."""

from __future__ import annotations

import json
from uuid import uuid4

import pytest
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from domain.facts import Fact
from projections.engine.runner import Decoder
from services.app.ledger import Ledger
from tests.fixtures.record_event_samples import SAMPLES, event_classes, recorded_versions, scenario

SAMPLE_LINES = [
    json.loads(line)
    for path in sorted(SAMPLES.glob("v*.jsonl"))
    for line in path.read_text(encoding="utf-8").splitlines()
]


@pytest.fixture(scope="module")
def app() -> Ledger:
    return Ledger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


@pytest.mark.parametrize(
    "sample", SAMPLE_LINES, ids=lambda s: f"{s['topic']}-v{s['class_version']}"
)
def test_a_stored_event_sample_still_loads_into_its_class(
    app: Ledger, sample: dict[str, object]
) -> None:
    state = dict(sample["state"])  # type: ignore[call-overload]
    if sample["class_version"] != 1:
        state["class_version"] = sample["class_version"]
    stored = StoredEvent(uuid4(), 1, str(sample["topic"]), json.dumps(state).encode())
    event = app.mapper.to_domain_event(stored)
    assert get_topic(type(event)) == sample["topic"]
    assert isinstance(event, Fact)
    assert event.actor
    assert event.occurred_at.tzinfo is not None


@pytest.mark.parametrize(
    "sample", SAMPLE_LINES, ids=lambda s: f"{s['topic']}-v{s['class_version']}"
)
def test_the_views_fast_decoder_gives_exactly_what_the_librarys_mapper_gives(
    app: Ledger, sample: dict[str, object]
) -> None:
    state = dict(sample["state"])  # type: ignore[call-overload]
    if sample["class_version"] != 1:
        state["class_version"] = sample["class_version"]
    stored = StoredEvent(uuid4(), 3, str(sample["topic"]), json.dumps(state).encode())
    mapped = app.mapper.to_domain_event(stored)
    decoded = Decoder(app)(stored.originator_id, 3, stored.topic, stored.state)
    assert type(decoded) is type(mapped)
    assert vars(decoded) == vars(mapped)


def test_every_current_event_version_has_a_saved_sample() -> None:
    current = {(get_topic(cls), cls.class_version) for cls in event_classes()}
    assert current == {(get_topic(type(e)), type(e).class_version) for e in scenario()}
    missing = current - recorded_versions()
    assert not missing, (
        f"record samples with python -m tests.fixtures.record_event_samples: {sorted(missing)}"
    )

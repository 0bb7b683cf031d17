"""Which records of a batch the ingest worker stores: those that continue each
partition from the store's next offset, nothing past a hole."""

from __future__ import annotations

from faust.types import TP

from services.kafka.ingest import Record
from services.kafka.worker import Positions

TOPIC = "agency-events"


def positions(**expected: int) -> Positions:
    held = Positions(app=None, ingestor=None, topic=TOPIC)  # type: ignore[arg-type]
    held.expected = {TP(TOPIC, int(p[1:])): offset for p, offset in expected.items()}
    return held


def records(partition: int, *offsets: int) -> list[Record]:
    return [Record(TOPIC, partition, offset, b"") for offset in offsets]


def admitted(held: Positions, batch: list[Record]) -> list[tuple[int, int]]:
    return [(r.partition, r.offset) for r in held.admit(batch)]


def test_records_already_stored_are_left_out_and_the_rest_continue_in_order() -> None:
    held = positions(p0=5, p1=0)
    batch = records(0, 3, 4, 5, 6) + records(1, 0, 1)
    assert admitted(held, batch) == [(0, 5), (0, 6), (1, 0), (1, 1)]
    assert held.unpositioned == set()


def test_a_partition_that_skips_ahead_stores_nothing_past_the_hole_and_is_positioned_again() -> (
    None
):
    held = positions(p0=5, p1=0)
    batch = records(0, 5, 6, 9, 10) + records(1, 2, 3)
    assert admitted(held, batch) == [(0, 5), (0, 6)]
    assert held.unpositioned == {TP(TOPIC, 0), TP(TOPIC, 1)}
    assert held.expected == {}


def test_records_of_a_partition_not_positioned_yet_are_left_for_after_the_seek() -> None:
    held = positions(p0=0)
    held.assigned([TP(TOPIC, 1)])
    assert admitted(held, records(1, 0, 1) + records(0, 0)) == [(0, 0)]


def test_stored_records_move_the_next_offset_unless_the_partition_was_reassigned_meanwhile() -> (
    None
):
    held = positions(p0=5, p1=0)
    batch = held.admit(records(0, 5, 6) + records(1, 0))
    held.assigned([TP(TOPIC, 1)])
    held.stored(batch)
    assert held.expected == {TP(TOPIC, 0): 7}

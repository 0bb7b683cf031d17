"""The rules of a background process's health (services.kafka.vitals), on a clock the
test moves."""

from __future__ import annotations

import psycopg
from kafka.errors import KafkaConnectionError

from services.kafka.vitals import STORE_STALE_SECONDS, Vitals


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Store:
    def __init__(self) -> None:
        self.up = True

    def __call__(self) -> int:
        if not self.up:
            raise psycopg.OperationalError("connection refused")
        return 7


def vitals(period: float = 1.0, grace: float = 30.0) -> tuple[Vitals, Clock, Store]:
    clock, store = Clock(), Store()
    return Vitals(store, period=period, grace=grace, clock=clock), clock, store


class Broker:
    def __init__(self) -> None:
        self.up = True

    def __call__(self) -> set[str]:
        if not self.up:
            raise KafkaConnectionError("no broker")
        return {"agency-events"}


def test_not_serving_before_a_first_step_nor_before_the_store_answered() -> None:
    health, _, _ = vitals()
    assert not health.serving()
    health.check_store()
    assert not health.serving()  # nothing done yet (the worker: no partitions assigned)
    health.done()
    assert health.serving()
    fresh, _, _ = vitals()
    fresh.done()
    assert not fresh.serving()  # the store never asked


def test_an_unreachable_store_is_not_serving_at_once_and_serving_again_when_it_answers() -> None:
    health, _, store = vitals()
    health.check_store()
    health.done()
    store.up = False
    health.check_store()
    assert not health.serving()
    store.up = True
    health.check_store()
    assert health.serving()


def test_a_store_check_that_hangs_counts_as_an_unreachable_store() -> None:
    health, clock, _ = vitals(grace=60.0)
    health.check_store()
    health.done()
    clock.now += STORE_STALE_SECONDS + 1
    health.beat()
    assert not health.serving()


def test_a_step_failed_on_the_store_is_not_serving_until_a_step_is_done() -> None:
    health, _, _ = vitals()
    health.check_store()
    health.done()
    health.failed(psycopg.OperationalError("server closed the connection"))
    health.check_store()  # the store answers again, but the batch is not committed yet
    assert not health.serving()
    health.done()
    assert health.serving()


def test_a_broker_away_is_ridden_out_for_the_grace_then_not_serving() -> None:
    health, clock, _ = vitals(grace=30.0)
    health.check_store()
    health.done()
    health.failed(KafkaConnectionError())
    clock.now += 29
    health.failed(TimeoutError())  # a timeout is the broker's, not the store's
    health.check_store()
    assert health.serving()
    clock.now += 2
    health.check_store()
    assert not health.serving()
    health.done()
    assert health.serving()


def test_a_loop_that_stops_coming_round_is_not_serving_after_its_period_and_grace() -> None:
    health, clock, _ = vitals(period=5.0, grace=3.0)
    health.check_store()
    health.done()
    clock.now += 8
    health.check_store()
    assert health.serving()
    clock.now += 1
    health.check_store()
    assert not health.serving()
    health.beat()
    assert health.serving()


def test_a_stopped_process_is_never_serving_again() -> None:
    health, _, _ = vitals()
    health.check_store()
    health.done()
    health.stopped()
    health.done()
    health.check_store()
    assert not health.serving()


def test_a_broker_that_stops_answering_is_ridden_out_for_the_grace_then_not_serving() -> None:
    clock, store, broker = Clock(), Store(), Broker()
    health = Vitals(store, broker, period=1.0, grace=10.0, clock=clock)
    health.check_store()
    health.done()
    assert not health.serving()  # the broker never answered yet
    health.check_broker()
    assert health.serving()
    broker.up = False
    for _ in range(10):
        clock.now += 1
        health.check_store()
        health.check_broker()
        health.beat()
        assert health.serving()
    clock.now += 1
    health.check_store()
    health.check_broker()
    health.beat()
    assert not health.serving()
    broker.up = True
    health.check_broker()
    assert health.serving()

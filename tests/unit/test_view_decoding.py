"""The views' faster paths give exactly what the slower ones give: stored events
parsed by orjson and revived as the transcoder decodes them, rows made JSON-safe by
an orjson round trip, rows written as JSON text by orjson."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from uuid import UUID

import pytest

from projections.engine.rows import _dumps, dumps, json_safe, json_safe_copy, loads
from projections.engine.runner import Decoder
from services.app.ledger import Ledger

APP = Ledger(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
ID = UUID("12345678-1234-5678-1234-567812345678")
MOMENT = dt.datetime(2026, 3, 1, 10, 30, 5, 123, tzinfo=dt.timezone(dt.timedelta(hours=7)))
STATE = {
    "as_of": dt.date(2026, 3, 1),
    "at": MOMENT,
    "amount": Decimal("12.50"),
    "nested": {"ids": [ID, {"day": dt.date(2026, 1, 2)}], "plain": {"_type_": "x"}},
    "text": "Tiến độ\n\t\\ \u0000",
    "numbers": [1, 2.5, -3, 10**30, True, None],
}


def test_a_stored_state_parsed_by_orjson_is_what_the_transcoder_decodes() -> None:
    decoder = Decoder(APP)
    stored = APP.mapper.transcoder.encode(STATE)
    assert decoder.fast
    parsed = decoder.parse(stored)
    assert parsed == APP.mapper.transcoder.decode(stored) == STATE
    assert repr(parsed) == repr(STATE)


@pytest.mark.parametrize("text", [b'{"a": NaN}', b'{"a": {"_type_": "unknown", "_data_": 1}}'])
def test_what_orjson_cannot_read_is_read_by_the_transcoder_itself(text: bytes) -> None:
    decoder = Decoder(APP)
    try:
        expected: object = APP.mapper.transcoder.decode(text)
    except Exception as error:  # noqa: BLE001 - the same error either way
        with pytest.raises(type(error)):
            decoder.parse(text)
    else:
        assert repr(decoder.parse(text)) == repr(expected)


def test_a_row_copied_json_safe_by_orjson_is_what_json_safe_makes() -> None:
    row = {"record": STATE, "times": (dt.time(10, 1, 2), MOMENT), "id": ID}
    assert json_safe_copy(row) == json_safe(row)
    assert json_safe_copy({1: "key not text"}) == json_safe({1: "key not text"})


def test_a_row_as_json_text_by_orjson_reads_back_as_by_the_standard_encoder() -> None:
    row = json_safe({"record": STATE, "big": 2**70, "float": 1e16})
    assert json.loads(dumps(row)) == json.loads(_dumps(row)) == row


@pytest.mark.parametrize(
    "text",
    [
        b'{"percent": 67.4, "n": 3, "ok": true, "s": "Tr\\u1ea1m y t\\u1ebf", "x": null}',
        b'{"big": 18446744073709551616, "neg": -9223372036854775809}',
        b'{"id": "1234567890123456789012", "f": 1e-7, "list": [1, 2.5, "3"]}',
        '{"text": "Xã Phước Bình"}',
    ],
)
def test_a_row_read_back_is_what_the_standard_decoder_reads(text: bytes | str) -> None:
    expected = json.loads(text)
    found = loads(text)
    assert found == expected
    assert json.dumps(found, sort_keys=True) == json.dumps(expected, sort_keys=True)

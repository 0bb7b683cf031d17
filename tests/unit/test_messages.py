"""Every refusal code says what it means in Vietnamese, and the wire says it first."""

from __future__ import annotations

import unicodedata

import grpc
from google.rpc import error_details_pb2

from domain.messages import LOCALE, VIETNAMESE, vietnamese
from services.grpc.errors import status_for
from tests.unit.test_error_codes_doc import documented_codes


def test_every_documented_code_has_a_vietnamese_sentence() -> None:
    missing = documented_codes() - set(VIETNAMESE)
    assert not missing, f"codes without a Vietnamese sentence: {sorted(missing)}"


def test_the_table_holds_no_code_the_page_does_not_document() -> None:
    assert set(VIETNAMESE) <= documented_codes()


def test_every_sentence_is_nfc_and_on_one_line() -> None:
    for code, said in VIETNAMESE.items():
        assert said == unicodedata.normalize("NFC", said), code
        assert "\n" not in said, code
        assert said.strip() == said, code


def test_an_unknown_code_reads_as_the_generic_sentence() -> None:
    assert vietnamese("NO_SUCH_CODE") == VIETNAMESE["DOMAIN_ERROR"]


def test_a_refusal_status_says_the_vietnamese_sentence_first_and_as_a_localized_message() -> None:
    info = error_details_pb2.ErrorInfo(reason="SELF_REVIEW", domain="lienthong.v1")
    status = status_for(grpc.StatusCode.PERMISSION_DENIED, "x may not judge y", [info])
    assert status.message == f"{VIETNAMESE['SELF_REVIEW']} — x may not judge y"
    localized = error_details_pb2.LocalizedMessage()
    assert status.details[-1].Unpack(localized)
    assert (localized.locale, localized.message) == (LOCALE, VIETNAMESE["SELF_REVIEW"])


def test_a_status_without_a_code_is_left_as_it_is() -> None:
    status = status_for(grpc.StatusCode.UNAVAILABLE, "down", [])
    assert status.message == "down"
    assert not status.details

"""One boundary chooses the API error class: an answer's body and a watch's ERROR event alike."""

from __future__ import annotations

import json

import pytest

from reconciler.cluster.client import error_from_response, error_from_status
from reconciler.errors import (
    NotServed,
    PermanentApiError,
    ReconcilerError,
    TransientApiError,
)


@pytest.mark.parametrize(
    ("code", "reason", "expected"),
    [
        (500, "InternalError", TransientApiError),
        (429, "TooManyRequests", TransientApiError),
        (409, "Conflict", TransientApiError),
        (409, "AlreadyExists", PermanentApiError),
        (403, "Forbidden", PermanentApiError),
    ],
)
def test_a_watch_error_status_gets_the_class_its_code_calls_for(code, reason, expected):
    event = {"kind": "Status", "code": code, "reason": reason, "message": "said the server"}
    error = error_from_status(code, event, default_message="watch error")
    assert type(error) is expected
    assert (error.status, error.reason, error.message) == (code, reason, "said the server")


def test_an_answer_without_a_status_body_keeps_its_text():
    error = error_from_response(503, b"upstream gone", retry_after="2")
    assert isinstance(error, TransientApiError)
    assert (error.reason, error.message, error.retry_after) == ("Unknown", "upstream gone", 2.0)
    body = json.dumps({"reason": "Forbidden", "message": "no"}).encode()
    assert isinstance(error_from_response(403, body, None), PermanentApiError)


def test_not_served_is_a_reconciler_error():
    assert isinstance(NotServed("ray.io/v1", "RayJob"), ReconcilerError)

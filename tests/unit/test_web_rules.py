"""The HTTP rules every service shares (sandbox.services.common.web and .openapi), on a
small app."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask, jsonify
from sqlalchemy.exc import DisconnectionError, OperationalError

from sandbox.services.common import web
from sandbox.services.common.openapi import OpenApiDocument

LIMIT = 16 * 1024
DOCUMENT = {
    "openapi": "3.1.0",
    "info": {"title": "t", "version": "1"},
    "paths": {
        "/things": {
            "post": {
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "price": {"type": "number", "multipleOf": 0.01},
                                    "name": {"type": "string", "maxLength": 5},
                                },
                            }
                        }
                    }
                },
                "responses": {"200": {"description": "ok"}},
            }
        }
    },
}


@pytest.fixture
def client(tmp_path: Path) -> Any:
    path = tmp_path / "openapi.yaml"
    path.write_text(yaml.safe_dump(DOCUMENT))
    document = OpenApiDocument(path)
    app = Flask("rules")
    web.install(app, "rules", max_body_bytes=LIMIT)

    @app.post("/things")
    def things() -> Any:
        body = web.json_object()
        document.validate_body("post", "/things", body, "INVALID_THING")
        return jsonify(body)

    @app.get("/things")
    def listing() -> Any:
        return jsonify({"page": web.query_int("page", 1, 100)})

    @app.get("/fails/<how>")
    def fails(how: str) -> Any:
        if how == "database":
            raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))
        if how == "disconnect":
            raise DisconnectionError("connection invalidated")
        raise RuntimeError("a bug")

    return app.test_client()


@pytest.mark.parametrize("how", ["database", "disconnect"])
def test_a_database_that_does_not_answer_is_a_503_to_retry(client, how):
    answer = client.get(f"/fails/{how}")
    assert answer.status_code == 503
    assert answer.json["error"]["code"] == "DATABASE_UNAVAILABLE"


def test_any_other_unexpected_error_is_a_500_that_tells_nothing(client):
    answer = client.get("/fails/bug")
    assert answer.status_code == 500
    assert answer.json["error"]["code"] == "INTERNAL_ERROR"
    assert "a bug" not in answer.get_data(as_text=True)


@pytest.mark.parametrize("price", [0.07, 19.99, 75.1, 1.15, 999999.99, 3])
def test_multiple_of_reads_the_decimal_written(client, price):
    # In binary floats 0.07 / 0.01 is 7.000000000000001; JSON Schema means the decimal.
    assert client.post("/things", json={"price": price}).status_code == 200


@pytest.mark.parametrize("price", [0.001, 10.005, 5e-324])
def test_multiple_of_refuses_a_third_decimal(client, price):
    answer = client.post("/things", json={"price": price})
    assert answer.status_code == 422
    assert answer.json["error"]["details"]["field"] == "price"


@pytest.mark.parametrize(("raw", "expected"), [("7", 7), ("007", 7), ("100", 100)])
def test_pages_in_ascii_digits_are_read(client, raw, expected):
    assert client.get("/things", query_string={"page": raw}).json == {"page": expected}


@pytest.mark.parametrize("raw", ["\uff11", "+1", " 1", "1 ", "1.0", "0", "101", "", "9" * 50])
def test_any_other_page_is_invalid_pagination(client, raw):
    answer = client.get("/things", query_string={"page": raw})
    assert answer.status_code == 400
    assert answer.json["error"]["code"] == "INVALID_PAGINATION"


def test_a_body_past_the_limit_is_413_in_the_error_shape(client):
    answer = client.post(
        "/things", data=b'{"name": "' + b"x" * LIMIT + b'"}', content_type="application/json"
    )
    assert answer.status_code == 413
    assert answer.json["error"]["code"] == "PAYLOAD_TOO_LARGE"


def test_a_refusal_does_not_echo_a_long_value(client):
    answer = client.post("/things", json={"name": "y" * 3000})
    assert answer.status_code == 422
    assert len(answer.json["error"]["message"]) <= web.MAX_MESSAGE_CHARS + 40
    assert "y" * 400 not in answer.get_data(as_text=True)


@pytest.mark.parametrize(
    "raw", [b'{"a": 1, "a": 2}', b'{"a": NaN}', b'{"a": "\\ud800"}', b"[" * 5000 + b"]" * 5000]
)
def test_ambiguous_json_is_invalid_json(client, raw):
    answer = client.post("/things", data=raw, content_type="application/json")
    assert answer.status_code == 400
    assert answer.json["error"]["code"] == "INVALID_JSON"

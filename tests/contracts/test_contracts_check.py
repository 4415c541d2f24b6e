"""``run_check`` passes on the repository's contracts and names what is wrong in broken copies."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from sandbox.contracts import run_check
from sandbox.settings import BrokerSettings
from sandbox.topology import build
from tests.contracts.helpers import REPO_CONTRACTS, edit_json, edit_yaml

EXAMPLE_CHECKS = ["examples-present", "event-examples"]
ASYNCAPI_CHECKS = ["asyncapi-schema", "asyncapi-references", "asyncapi-matches-schemas"]
OPENAPI = ["openapi-documents"]
TOPOLOGY = ["topology-agrees"]


def topology_view() -> dict[str, Any]:
    return build(BrokerSettings()).to_contract_view()


def failed(report: Any) -> dict[str, tuple[str, ...]]:
    return {r.name: r.details for r in report.results if r.status == "failed"}


def test_repository_contracts_pass_every_check_with_the_real_topology() -> None:
    report = run_check(REPO_CONTRACTS, topology=topology_view())
    assert failed(report) == {}
    assert report.ok


def test_topology_check_is_skipped_without_a_topology() -> None:
    result = run_check(REPO_CONTRACTS, only=TOPOLOGY).result("topology-agrees")
    assert result.status == "skipped"
    assert "no topology given" in result.details[0]


def test_openapi_check_is_skipped_when_there_are_no_documents(contracts_copy: Path) -> None:
    shutil.rmtree(contracts_copy / "http")
    assert (
        run_check(contracts_copy, only=["openapi-documents"]).result("openapi-documents").status
        == "skipped"
    )


def test_a_schema_that_is_not_json_fails_the_schema_check(contracts_copy: Path) -> None:
    (contracts_copy / "events/payment.failed.schema.json").write_text("{not json")
    report = run_check(contracts_copy, only=["schemas-valid"])
    assert not report.ok
    assert "not valid JSON" in failed(report)["schemas-valid"][0]


def test_a_schema_invalid_against_the_meta_schema_is_named(contracts_copy: Path) -> None:
    def break_type(schema: dict) -> None:
        schema["properties"]["amount"] = {"type": "money"}

    edit_json(contracts_copy / "events/payment.created.schema.json", break_type)
    [problem] = failed(run_check(contracts_copy, only=["schemas-valid"]))["schemas-valid"]
    assert problem.startswith("events/payment.created.schema.json:")


def test_a_dangling_ref_fails_the_reference_check(contracts_copy: Path) -> None:
    def dangle(schema: dict) -> None:
        schema["properties"]["currency"] = {"$ref": "common.schema.json#/$defs/money"}

    edit_json(contracts_copy / "events/payment.completed.schema.json", dangle)
    report = failed(run_check(contracts_copy, only=["refs-resolve"]))
    assert any("#/$defs/money" in p for p in report["refs-resolve"])


def test_a_valid_example_that_fails_its_schema_is_reported(contracts_copy: Path) -> None:
    path = contracts_copy / "events/examples/payment.created/valid/basic.json"
    edit_json(path, lambda body: body.update(currency="usd"))
    [problem] = failed(run_check(contracts_copy, only=EXAMPLE_CHECKS))["event-examples"]
    assert problem.startswith("payment.created/valid/basic.json: rejected: schema_violation")


def test_an_invalid_example_that_passes_is_reported(contracts_copy: Path) -> None:
    source = contracts_copy / "events/examples/payment.created/valid/basic.json"
    shutil.copy(source, contracts_copy / "events/examples/payment.created/invalid/ok.json")
    report = failed(run_check(contracts_copy, only=EXAMPLE_CHECKS))
    assert (
        "payment.created/invalid/ok.json: accepted, but it is an invalid example"
        in report["event-examples"]
    )
    assert any("ok.json: no expected code" in p for p in report["examples-present"])


def test_an_invalid_example_failing_elsewhere_than_expected_is_reported(
    contracts_copy: Path,
) -> None:
    path = contracts_copy / "events/examples/payment.failed/invalid/expectations.yaml"
    edit_yaml(path, lambda exp: exp["missing-error.json"].update(path="$.errors"))
    [problem] = failed(run_check(contracts_copy, only=EXAMPLE_CHECKS))["event-examples"]
    assert "expected missing_property at $.errors" in problem


def test_too_few_examples_fail_the_presence_check(contracts_copy: Path) -> None:
    shutil.rmtree(contracts_copy / "events/examples/payment.cancelled/invalid")
    [problem] = failed(run_check(contracts_copy, only=EXAMPLE_CHECKS))["examples-present"]
    assert problem.startswith("payment.cancelled: 2 valid and 0 invalid examples")


def test_an_asyncapi_document_breaking_the_official_schema_fails(contracts_copy: Path) -> None:
    def publish(doc: dict) -> None:
        doc["operations"]["paymentService_sendPaymentCreated"]["action"] = "publish"

    edit_yaml(contracts_copy / "asyncapi.yaml", publish)
    report = failed(run_check(contracts_copy, only=ASYNCAPI_CHECKS))
    assert report["asyncapi-schema"] == (
        "$.operations.paymentService_sendPaymentCreated: "
        + report["asyncapi-schema"][0].split(": ", 1)[1],
    )


def test_a_message_type_differing_from_the_schema_is_reported(contracts_copy: Path) -> None:
    def retype(doc: dict) -> None:
        doc["components"]["messages"]["PaymentFailed"]["bindings"]["amqp"]["messageType"] = "X"

    edit_yaml(contracts_copy / "asyncapi.yaml", retype)
    problems = failed(run_check(contracts_copy, only=ASYNCAPI_CHECKS))["asyncapi-matches-schemas"]
    assert problems == (
        "payment.failed: message type 'X' differs from the schema's 'PAYMENT_FAILED'",
    )


def test_a_consumer_not_declaring_a_delivered_message_is_reported(contracts_copy: Path) -> None:
    def forget(doc: dict) -> None:
        messages = doc["operations"]["appointmentService_receivePaymentEvents"]["messages"]
        messages[:] = [m for m in messages if not m["$ref"].endswith("/PaymentCreated")]

    edit_yaml(contracts_copy / "asyncapi.yaml", forget)
    problems = failed(run_check(contracts_copy, only=ASYNCAPI_CHECKS))["asyncapi-matches-schemas"]
    assert problems == (
        "queue payment_events: appointment-service does not declare PaymentCreated, "
        "which its bindings deliver",
    )


def test_a_dangling_operation_reference_is_reported(contracts_copy: Path) -> None:
    def dangle(doc: dict) -> None:
        doc["operations"]["paymentService_sendPaymentCreated"]["channel"]["$ref"] = "#/channels/x"

    edit_yaml(contracts_copy / "asyncapi.yaml", dangle)
    problems = failed(run_check(contracts_copy, only=ASYNCAPI_CHECKS))["asyncapi-references"]
    assert any("'#/channels/x'" in p for p in problems)


def test_topology_with_another_binding_disagrees() -> None:
    topology = topology_view()
    topology["queues"][0]["bindings"] = ["payment.completed"]
    [problem] = failed(run_check(REPO_CONTRACTS, topology, only=TOPOLOGY))["topology-agrees"]
    assert problem == (
        "queue payment_events: AsyncAPI binds ['payment.#'], topology binds ['payment.completed']"
    )


def test_topology_with_an_extra_queue_and_exchange_type_disagrees() -> None:
    topology = topology_view()
    topology["exchange"]["type"] = "direct"
    topology["queues"].append({"name": "audit", "bindings": ["#"], "consumer": "auditor"})
    problems = failed(run_check(REPO_CONTRACTS, topology, only=TOPOLOGY))["topology-agrees"]
    assert problems == (
        "exchange type: AsyncAPI says 'topic', topology says 'direct'",
        "queue audit: in the topology, not in AsyncAPI",
    )


def test_an_invalid_openapi_document_is_reported(contracts_copy: Path) -> None:
    (contracts_copy / "http/broken.openapi.yaml").write_text(
        "openapi: 3.1.0\ninfo: {title: x}\npaths:\n  /a:\n    get:\n      responses: {}\n"
    )
    problems = failed(run_check(contracts_copy, only=OPENAPI))["openapi-documents"]
    assert any(p.startswith("http/broken.openapi.yaml:") and "version" in p for p in problems)


def test_an_openapi_document_with_a_dangling_ref_is_reported(contracts_copy: Path) -> None:
    (contracts_copy / "http/dangling.openapi.yaml").write_text(
        "openapi: 3.1.0\ninfo: {title: x, version: '1'}\npaths:\n  /a:\n    get:\n"
        "      responses:\n        '200':\n          description: ok\n          content:\n"
        "            application/json:\n              schema: {$ref: '#/components/schemas/A'}\n"
    )
    [problem] = failed(run_check(contracts_copy, only=OPENAPI))["openapi-documents"]
    assert "'#/components/schemas/A'" in problem


def test_a_broken_tree_gives_a_report_not_a_traceback(contracts_copy: Path) -> None:
    (contracts_copy / "asyncapi.yaml").write_text("asyncapi: [unclosed")
    report = run_check(contracts_copy, only=["event-examples", *ASYNCAPI_CHECKS])
    assert {"asyncapi-schema", "event-examples"} <= set(failed(report))


def test_junit_xml_has_one_testcase_per_check_with_failures_and_skips() -> None:
    topology = topology_view()
    topology["exchange"]["name"] = "other"
    report = run_check(
        REPO_CONTRACTS, topology, only=["schemas-valid", "openapi-documents", *TOPOLOGY]
    )
    suite = ET.fromstring(report.to_junit_xml()).find("testsuite")
    assert suite is not None
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert set(cases) == {r.name for r in report.results}
    assert suite.get("failures") == "1"
    failure = cases["topology-agrees"].find("failure")
    assert failure is not None and "exchange name" in (failure.text or "")


def test_text_rendering_lists_each_check_and_a_summary_line() -> None:
    text = run_check(REPO_CONTRACTS, only=["schemas-valid", *TOPOLOGY]).render_text()
    lines = text.splitlines()
    assert lines[1].startswith("  PASS  schemas-valid  ")
    assert lines[2].startswith("  SKIP  topology-agrees")
    assert lines[-1] == "1 passed, 0 failed, 1 skipped"


def test_only_runs_the_named_checks_and_refuses_unknown_names() -> None:
    report = run_check(REPO_CONTRACTS, only=["refs-resolve"])
    assert [r.name for r in report.results] == ["refs-resolve"]
    with pytest.raises(ValueError, match="unknown checks"):
        run_check(REPO_CONTRACTS, only=["spelling"])


def test_report_dict_counts_each_status() -> None:
    topology = topology_view()
    topology["exchange"]["name"] = "other"
    disagreeing = run_check(REPO_CONTRACTS, topology, only=["refs-resolve", *TOPOLOGY])
    without = run_check(REPO_CONTRACTS, only=["refs-resolve", *TOPOLOGY])
    assert disagreeing.to_dict()["counts"] == {"passed": 1, "failed": 1, "skipped": 0}
    assert disagreeing.to_dict()["ok"] is False
    assert without.to_dict()["counts"] == {"passed": 1, "failed": 0, "skipped": 1}
    assert without.to_dict()["ok"] is True

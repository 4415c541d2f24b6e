"""What the contract check of one consumed message costs: microseconds per message for
``ContractRegistry.validate_delivered`` (envelope and body), valid and invalid.

    .venv/bin/python benchmarks/validation_bench.py [--messages 3000]
"""

from __future__ import annotations

import argparse
import time

from sandbox.contracts import ContractRegistry, example_body
from sandbox.messaging.envelope import IncomingMessage, OutgoingMessage


def per_message_us(registry: ContractRegistry, message: IncomingMessage, n: int) -> float:
    began = time.perf_counter()
    for _ in range(n):
        # a new message each time, as a delivery is: its body is parsed once, here
        registry.validate_delivered(
            IncomingMessage(message.routing_key, message.raw_body, message.properties)
        )
    return (time.perf_counter() - began) / n * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=3000)
    args = parser.parse_args()
    registry = ContractRegistry.load()
    for routing_key in ("payment.completed", "appointment.confirmed", "notification.sent"):
        out = OutgoingMessage.event(
            routing_key, example_body(routing_key), producer="bench", correlation_id="bench-1"
        )
        valid = IncomingMessage(routing_key, out.body, out.envelope.properties())
        broken = IncomingMessage(routing_key, b'{"type": 1}', out.envelope.properties())
        print(
            f"{routing_key:<24} valid {per_message_us(registry, valid, args.messages):7.1f} us"
            f"   invalid {per_message_us(registry, broken, args.messages // 10):7.1f} us"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

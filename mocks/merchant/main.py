"""Command line: ``python -m mocks.merchant --host H --port N [--path P] [--tolerance S]``.

The process serves with gunicorn (``mocks.common.process``): keep-alive connections,
one worker since the records are in memory.  The HMAC secret comes from
``MOCK_MERCHANT_SECRET`` only, never an option: a command line is readable by every
local user (``ps``, ``/proc/<pid>/cmdline``).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from mocks.common.main import run
from mocks.merchant.server import MerchantProcess
from mocks.merchant.settings import ENV_PREFIX, MerchantMockSettings


def parser() -> argparse.ArgumentParser:
    """The options; each overrides its MOCK_MERCHANT_* variable."""
    parser = argparse.ArgumentParser(
        prog="python -m mocks.merchant",
        description=__doc__,
        epilog="The shared HMAC secret: MOCK_MERCHANT_SECRET (generated and printed when unset).",
    )
    parser.add_argument("--host", help="address to bind (MOCK_MERCHANT_HOST, default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port, 0 for any (MOCK_MERCHANT_PORT, 8010)")
    parser.add_argument("--path", dest="callback_path", help="callback path (default /callbacks)")
    parser.add_argument("--tolerance", dest="tolerance_s", type=int, help="timestamp tolerance s")
    return parser


def serve(settings: MerchantMockSettings) -> int:
    """Serve until SIGTERM or SIGINT; print one JSON 'ready' line with the bound port."""
    MerchantProcess(settings).run()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the mock merchant until SIGTERM or SIGINT."""
    return run("mock-merchant", parser(), argv, ENV_PREFIX, MerchantMockSettings.from_env, serve)

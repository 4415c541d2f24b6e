"""Entry point for ``python -m mocks.merchant``."""

from mocks.merchant.main import main

raise SystemExit(main())

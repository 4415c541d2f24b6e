"""Entry point for ``python -m mocks.smtp``."""

from mocks.smtp.main import main

raise SystemExit(main())

"""``python -m mocks.provider --host 127.0.0.1 --port 12111``."""

import sys

from mocks.provider.main import main

if __name__ == "__main__":
    sys.exit(main())

"""A trivial Flask endpoint under the services' own gunicorn setup: the HTTP ceiling.

.venv/bin/python benchmarks/trivial_app.py --port 8099
"""

from __future__ import annotations

import argparse

from flask import Flask

from sandbox.services.common.serve import serve


def create_app() -> Flask:
    app = Flask("trivial")

    @app.get("/ping")
    def ping() -> dict[str, str]:
        return {"status": "ok"}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    serve(create_app, host="127.0.0.1", port=args.port, name="trivial")


if __name__ == "__main__":
    main()

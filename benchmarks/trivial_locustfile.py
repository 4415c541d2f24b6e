"""Locust users for the trivial endpoint: the same load generator as the flows."""

from __future__ import annotations

from locust import FastHttpUser, task


class PingUser(FastHttpUser):
    @task
    def ping(self) -> None:
        self.client.get("/ping", name="GET /ping")

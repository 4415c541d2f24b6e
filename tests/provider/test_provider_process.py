"""The real process: ``python -m mocks.provider`` under gunicorn, configured by env vars."""

from __future__ import annotations

import requests
import stripe
from provider_support import API_KEY, WebhookReceiver, provider_process, serve


def test_real_process_serves_payments_and_delivers_configured_webhooks(tmp_path):
    hook = WebhookReceiver(secret="whsec_process_test")
    log = tmp_path / "provider.log"
    with serve(hook) as hook_url:
        env = {
            "PROVIDER_WEBHOOK_URL": f"{hook_url}/stripe",
            "PROVIDER_WEBHOOK_SECRET": hook.secret,
            "PROVIDER_WEBHOOK_RETRY_BASE_S": "0.05",
            "PROVIDER_SEED": "5",
        }
        with provider_process(log, env) as base_url, requests.Session() as http:
            health = http.get(f"{base_url}/health", timeout=5).json()
            assert health["status"] == "ok"
            assert health["webhook_worker"]["running"] is True
            assert health["seed"] == 5
            client = stripe.StripeClient(
                API_KEY,
                base_addresses={"api": base_url},
                http_client=stripe.RequestsClient(session=http),
            )
            pm = client.v1.payment_methods.create(
                params={
                    "type": "card",
                    "card": {"number": "4242424242424242", "exp_month": 1, "exp_year": 2040},
                }
            )
            params = {"amount": 990, "currency": "usd", "payment_method": pm.id}
            intent = client.v1.payment_intents.create(params={**params, "confirm": True})
            assert intent.status == "succeeded"
            got = hook.wait_for_types(["payment_intent.succeeded"])
            assert got[-1].event.data.object.id == intent.id
    assert "4242424242424242" not in log.read_text()
    assert "Booting worker" in log.read_text()

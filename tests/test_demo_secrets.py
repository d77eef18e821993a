"""Issue 12, finding 2: the demo's secrets are published in this repository, so a duely that
others can reach must not run on them (a Twilio START or a Xero webhook signed with them
was accepted). The one-command demo on loopback keeps them."""

from __future__ import annotations

import pytest

from duely.settings import DemoSecretsRefused, Settings
from duely.web.app import create_app
from duely.worker import main as worker_main

PUBLIC = "https://duely.example.com"
REAL = {
    "xero_client_secret": "real-xero-client-secret-4f1c",
    "xero_webhook_key": "real-xero-webhook-key-9a2e",
    "quickbooks_client_secret": "real-quickbooks-client-secret-3b8d",
    "quickbooks_verifier_token": "real-quickbooks-verifier-token-e51a",
    "accountsiq_partner_key": "real-accountsiq-partner-key-0c3f",
    "twilio_auth_token": "real-twilio-auth-token-77d0",
}


def settings_at(public_url: str, tmp_path, **secrets) -> Settings:
    return Settings(home=tmp_path, secret_key="k" * 40, public_url=public_url, **secrets)


@pytest.mark.parametrize("left", sorted(REAL))
def test_a_public_duely_refuses_to_start_on_any_demo_secret(tmp_path, left):
    settings = settings_at(PUBLIC, tmp_path, **{k: v for k, v in REAL.items() if k != left})
    with pytest.raises(DemoSecretsRefused) as refused:
        create_app(settings)
    message = str(refused.value)
    assert f"DUELY_{left.upper()}" in message and PUBLIC in message
    assert not any(f"DUELY_{other.upper()}" in message for other in REAL if other != left)
    with pytest.raises(DemoSecretsRefused):
        worker_main(settings)  # refused before it connects to anything


def test_every_demo_secret_is_named_at_once(tmp_path):
    message = str(
        pytest.raises(DemoSecretsRefused, create_app, settings_at(PUBLIC, tmp_path)).value
    )
    for name in REAL:
        assert f"DUELY_{name.upper()}" in message


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000", "http://localhost:8000", "http://[::1]:8000"]
)
def test_the_demo_on_this_machine_keeps_its_secrets(tmp_path, url):
    create_app(settings_at(url, tmp_path))  # no refusal


def test_a_public_duely_with_real_secrets_starts(tmp_path):
    create_app(settings_at(PUBLIC, tmp_path, **REAL))

"""Security issue 12: no customer's name or email in a workflow history in clear.

Every payload duely hands to Temporal is encrypted (duely.core.temporal.codec), so the Temporal Web
UI shows ciphertext; duely's codec endpoint (duely.web.codec) decrypts for signed-in admins, for
the Temporal UI's origin alone. Histories recorded before the codec still replay: the replay
tests (tests/replay) run them through the same codec.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
from datetime import date

import pytest
from google.protobuf import json_format
from sqlmodel import select
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.api.failure.v1 import Failure
from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.exceptions import ApplicationError
from temporalio.worker import Replayer

from duely.core.db import Database
from duely.core.temporal import names
from duely.core.temporal.codec import (
    ENCODING,
    KEY_ID,
    EncryptionCodec,
    PayloadDecryptionError,
    data_converter,
)
from duely.integrations.ledgers.connections import Ledgers
from duely.models import Contact
from duely.up import temporal_dev_server_command
from duely.web.codec import ui_origin
from duely.worker import ALL_WORKFLOWS, WORKFLOW_RUNNER, build_worker
from tests.chase import conftest as chasing
from tests.chase.conftest import DUE, at_london, customer_with_contact, english_org
from tests.conftest import login
from tests.factories import add_invoice

# The chase harness fixture: tests/chase/conftest.py reaches only the tests under it.
harness = chasing.harness

# --- what a raw history holds ----------------------------------------------------------------


def _strings(node) -> list[str]:
    if isinstance(node, dict):
        return [s for value in node.values() for s in _strings(value)]
    if isinstance(node, list):
        return [s for value in node for s in _strings(value)]
    return [node] if isinstance(node, str) else []


def readable(history_json: str) -> str:
    """Everything someone reading the raw history could read: its text and each base64 value
    decoded (a plain payload's JSON is base64 in a history)."""
    texts = [history_json]
    for text in _strings(json.loads(history_json)):
        with contextlib.suppress(binascii.Error, ValueError):  # not base64: text already in
            texts.append(base64.b64decode(text, validate=True).decode("utf-8", "replace"))
    return "\n".join(texts)


def _payloads(node):
    if isinstance(node, dict):
        if "data" in node and "metadata" in node:
            yield json_format.ParseDict(node, Payload(), ignore_unknown_fields=True)
        else:
            for value in node.values():
                yield from _payloads(value)
    elif isinstance(node, list):
        for value in node:
            yield from _payloads(value)


def decrypted(history_json: str, codec: EncryptionCodec) -> str:
    """The history's payloads as duely's worker reads them."""
    return "\n".join(
        codec.decrypt(p).data.decode("utf-8", "replace")
        for p in _payloads(json.loads(history_json))
    )


async def test_a_chase_history_holds_no_name_or_email_in_clear(harness, org_a, db, settings):
    english_org(db, org_a.id)
    customer = customer_with_contact(db, org_a.id, "privacy")
    contact = db.exec(select(Contact).where(Contact.customer_id == customer.id)).one()
    invoice = add_invoice(db, customer, "INV-PRIV", 0, amount=42_000, due_date=DUE)
    await harness.start(invoice)
    # Past the first reminder (three days before due), emailed at 09:01.
    await harness.skip_to(at_london(date(2027, 3, 12), 12))
    (message,) = harness.messages(customer)
    assert message.status == "sent" and harness.mail.received[0].recipients == [contact.email]

    codec = EncryptionCodec(settings.resolved_secret_key)
    chase = harness.client.get_workflow_handle(names.chase_workflow_id(org_a.id, invoice.id))
    outbox = harness.client.get_workflow_handle(names.outbox_workflow_id(org_a.id, customer.id))
    for handle in (chase, outbox):
        raw = (await handle.fetch_history()).to_json()
        # The history does carry them (the chase's timeline names the recipient) ...
        assert contact.email in decrypted(raw, codec), handle.id
        # ... but only encrypted.
        seen = readable(raw)
        for personal in (customer.name, contact.email, contact.last_name):
            assert personal not in seen, f"{personal!r} in clear in {handle.id}'s history"
        assert ENCODING.decode() in seen
    # What operators filter on stays readable: the invoice's number, ids, amount and dates.
    history = await chase.fetch_history()
    assert "INV-PRIV" in readable(history.to_json())
    # An encrypted history replays, as a worker restarting mid-chase replays it.
    replayer = Replayer(
        workflows=ALL_WORKFLOWS,
        workflow_runner=WORKFLOW_RUNNER,
        data_converter=data_converter(settings.resolved_secret_key),
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None


# --- the codec ---------------------------------------------------------------------------------


def _payload(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(text).encode())


def test_the_codec_round_trips_and_hides_metadata_and_data():
    codec = EncryptionCodec("a-secret-key")
    plain = _payload("Call Sam Okafor about INV-1")
    sealed = codec.encrypt(plain)
    assert sealed.metadata["encoding"] == ENCODING
    assert sealed.metadata[KEY_ID] == codec.key_id.encode()
    assert b"Okafor" not in sealed.SerializeToString()
    assert b"json/plain" not in sealed.SerializeToString()
    assert codec.decrypt(sealed) == plain
    # A fresh nonce each time: the same value never encrypts to the same bytes.
    assert codec.encrypt(plain).data != sealed.data


def test_a_plain_payload_from_before_the_codec_decodes_as_it_is():
    plain = _payload("recorded before the codec")
    assert EncryptionCodec("a-secret-key").decrypt(plain) is plain


def test_another_keys_payload_is_refused_naming_both_keys():
    mine, theirs = EncryptionCodec("a-secret-key"), EncryptionCodec("another-secret-key")
    sealed = theirs.encrypt(_payload("sam@customer.test"))
    with pytest.raises(PayloadDecryptionError, match="DUELY_SECRET_KEY") as refused:
        mine.decrypt(sealed)
    assert theirs.key_id in str(refused.value) and mine.key_id in str(refused.value)


def test_an_altered_payload_is_refused():
    codec = EncryptionCodec("a-secret-key")
    sealed = codec.encrypt(_payload("sam@customer.test"))
    sealed.data = sealed.data[:-1] + bytes([sealed.data[-1] ^ 1])
    with pytest.raises(PayloadDecryptionError, match="altered or damaged"):
        codec.decrypt(sealed)


async def test_a_failure_message_is_encrypted_too():
    """An error's text can name a recipient, and a failure's message is not a payload."""
    converter = data_converter("a-secret-key")
    failure = Failure()
    await converter.encode_failure(ApplicationError("550 <sam@customer.test> unknown"), failure)
    assert b"sam@customer.test" not in failure.SerializeToString()
    assert failure.encoded_attributes.metadata["encoding"] == ENCODING
    error = await converter.decode_failure(failure)
    assert "sam@customer.test" in str(error)


async def test_a_worker_refuses_a_client_that_does_not_encrypt(time_skipping_env, settings, db):
    database = Database(settings.resolved_database_url)
    ledgers = Ledgers(settings, database)
    service = time_skipping_env.client.service_client
    try:
        for converter in (DataConverter.default, data_converter("not-the-settings-key")):
            client = Client(service, namespace="default", data_converter=converter)
            with pytest.raises(ValueError, match="does not encrypt payloads with DUELY_SECRET"):
                build_worker(client, settings, database, ledgers)
    finally:
        await ledgers.aclose()
        await database.dispose()


def test_duely_up_points_the_temporal_ui_at_the_codec_endpoint(settings):
    settings = settings.model_copy(update={"public_url": "http://127.0.0.1:8000/"})
    command = temporal_dev_server_command(settings)
    flag = command.index("--ui-codec-endpoint")
    assert command[flag + 1] == "http://127.0.0.1:8000/codec"


# --- the codec endpoint ----------------------------------------------------------------------


def _body(*payloads: Payload) -> dict:
    return json_format.MessageToDict(Payloads(payloads=payloads))


def _answered(response) -> list[Payload]:
    return list(json_format.ParseDict(response.json(), Payloads()).payloads)


async def test_an_admin_gets_a_history_payload_decoded_for_the_temporal_ui(client, org_a, settings):
    codec = EncryptionCodec(settings.resolved_secret_key)
    plain = _payload("Before due: emailed to sam@customer.test")
    origin = ui_origin(settings)
    await login(client, org_a.admin)

    response = await client.post(
        "/codec/decode", json=_body(codec.encrypt(plain)), headers={"Origin": origin}
    )
    assert response.status_code == 200, response.text
    assert _answered(response) == [plain]
    # The UI reads the answer cross-origin, with the admin's cookie.
    assert response.headers["access-control-allow-origin"] == origin
    assert response.headers["access-control-allow-credentials"] == "true"
    assert response.headers["cache-control"] == "no-store"

    # Encode is the reverse (input typed into the UI), and plain payloads pass decode as is.
    encoded = await client.post("/codec/encode", json=_body(plain), headers={"Origin": origin})
    assert encoded.status_code == 200, encoded.text
    (sealed,) = _answered(encoded)
    assert sealed.metadata["encoding"] == ENCODING and codec.decrypt(sealed) == plain
    untouched = await client.post("/codec/decode", json=_body(plain))
    assert _answered(untouched) == [plain]


async def test_the_codec_endpoint_refuses_another_keys_payload_and_a_bad_body(
    client, org_a, settings
):
    await login(client, org_a.admin)
    foreign = EncryptionCodec("another-secret-key").encrypt(_payload("sam@customer.test"))
    response = await client.post("/codec/decode", json=_body(foreign))
    assert response.status_code == 400 and "DUELY_SECRET_KEY" in response.json()["detail"]
    garbled = await client.post("/codec/decode", json={"payloads": "not a list"})
    assert garbled.status_code == 400
    assert 'The body must be {"payloads": [...]}' in garbled.json()["detail"]
    as_form = await client.post("/codec/decode", data={"payloads": "[]"})
    assert as_form.status_code == 415


@pytest.mark.parametrize("role", ["viewer", "collector"])
async def test_only_an_admin_may_decode(client, org_a, settings, role):
    sealed = EncryptionCodec(settings.resolved_secret_key).encrypt(_payload("sam@customer.test"))
    await login(client, getattr(org_a, role))
    for path in ("/codec/decode", "/codec/encode"):
        response = await client.post(
            path, json=_body(sealed), headers={"Origin": ui_origin(settings)}
        )
        assert response.status_code == 403, response.text
        assert "sam@customer.test" not in response.text
        # JSON the UI can read, so it can say why it shows no decoded payloads.
        assert response.json()["detail"] == "This needs the admin role."
        assert response.headers["access-control-allow-origin"] == ui_origin(settings)


async def test_an_anonymous_caller_gets_401_not_the_sign_in_page(client, settings):
    sealed = EncryptionCodec(settings.resolved_secret_key).encrypt(_payload("sam@customer.test"))
    for path in ("/codec/decode", "/codec/encode"):
        response = await client.post(path, json=_body(sealed), follow_redirects=False)
        assert response.status_code == 401, response.text
        assert "sam@customer.test" not in response.text
        assert response.json()["detail"] == "Sign in to continue."


async def test_an_admins_cookie_is_refused_from_any_other_origin(client, org_a, settings):
    sealed = EncryptionCodec(settings.resolved_secret_key).encrypt(_payload("sam@customer.test"))
    await login(client, org_a.admin)
    response = await client.post(
        "/codec/decode", json=_body(sealed), headers={"Origin": "https://evil.test"}
    )
    assert response.status_code == 403
    assert "sam@customer.test" not in response.text
    assert "access-control-allow-origin" not in response.headers


async def test_the_preflight_is_answered_for_the_temporal_ui_origin_only(client, settings):
    asked = {"Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "content-type,x-namespace"}  # fmt: skip
    origin = ui_origin(settings)
    assert origin == "http://127.0.0.1:8233"  # the dev server's UI, as `duely up` runs it
    for path in ("/codec/decode", "/codec/encode"):
        response = await client.options(path, headers={"Origin": origin, **asked})
        assert response.status_code == 204, response.text
        assert response.headers["access-control-allow-origin"] == origin
        assert response.headers["access-control-allow-credentials"] == "true"
        assert response.headers["access-control-allow-methods"] == "POST"
        allowed = response.headers["access-control-allow-headers"].lower()
        assert {"content-type", "x-namespace"} <= {h.strip() for h in allowed.split(",")}
        assert "Origin" in response.headers["vary"]

    for stranger in ("https://evil.test", "http://127.0.0.1:8234", "null"):
        refused = await client.options("/codec/decode", headers={"Origin": stranger, **asked})
        assert refused.status_code == 403
        assert "access-control-allow-origin" not in refused.headers
        assert "access-control-allow-credentials" not in refused.headers

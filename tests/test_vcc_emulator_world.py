"""The emulator's own world: a file VCC-side, able to disagree with the registry."""

import io
import json
import os

import pytest
import requests
from django.core.management import call_command

from payments.models import AccountConfiguration, ApiCredential, PaymentFlow, VccAccount
from payments.services import credential_save
from payments.services.demo import NOT_PROVISIONED_AT_VCC, emulator_world_from_registry
from payments.services.vcc_clients import vcc_client_for
from payments.vcc import VccConfigurationNotProvisioned
from payments.vcc.emulator import EmulatorServer, StaticWorld, WorldFile, secret_digest
from tests.conftest import point_accounts_at, provision_from_registry
from tests.vcc_helpers import CANARY_SECRET, CLIENT_ID, FAST, PAYMENT_DATA, WORLD, make_client

pytestmark = pytest.mark.django_db


def _create(client, configuration_id: int):
    return client.create_agent_assist_session(
        payment_data=PAYMENT_DATA, agent_id="agent1234", account_configuration_id=configuration_id
    )


def _known_secret(client_id: str, secret: str) -> ApiCredential:
    credential = ApiCredential.objects.get(client_id=client_id)
    credential_save(credential=credential, new_secret=secret, actor=None)
    return ApiCredential.objects.select_related("account").get(pk=credential.pk)


# --- The registry and VCC can disagree ----------------------------------------------------------


def test_link_the_registry_has_and_the_world_lacks_is_not_provisioned(vcc_emulator, demo):
    credential = _known_secret("sandbox-client-a", "world-secret-0001")
    provision_from_registry(vcc_emulator)
    point_accounts_at(vcc_emulator)
    # A link added in the registry after VCC was provisioned: Vonage was never asked for it.
    AccountConfiguration.objects.create(
        account=VccAccount.objects.get(name="Sandbox"),
        configuration_id=8,
        flow=PaymentFlow.objects.get(number=696),
    )
    credential = ApiCredential.objects.select_related("account").get(pk=credential.pk)
    client = vcc_client_for(credential, config=FAST)
    assert _create(client, 2).session_guid
    with pytest.raises(VccConfigurationNotProvisioned) as caught:
        _create(client, 8)
    assert "Configuration id 8 is not provisioned on VCC account Sandbox" in caught.value.message
    token = requests.post(
        f"{vcc_emulator.url}/Auth/connect/token",
        data={
            "grant_type": "client_credentials",
            "scope": "globalpci",
            "client_id": "sandbox-client-a",
            "client_secret": "world-secret-0001",
        },
        timeout=3,
    ).json()["access_token"]
    answer = requests.post(
        f"{vcc_emulator.url}/globalpci/v1/session",
        json={"paymentData": PAYMENT_DATA, "accountConfigurationId": 8},
        headers={"Authorization": f"Bearer {token}"},
        timeout=3,
    )
    assert (answer.status_code, answer.json()["message"]) == (
        400,
        "Account configuration does not exists for account: Sandbox, configuration Id: 8.",
    )


def test_world_from_registry_can_leave_a_link_out(demo):
    world = emulator_world_from_registry(leave_out=[("Sandbox", 2)])
    ids = {
        each["name"]: [item["id"] for item in each["configurations"]] for each in world["accounts"]
    }
    assert ids == {"Contact Centre": [1, 2, 3, 4, 5], "Production": [1, 2], "Sandbox": [1, 3]}


# --- The demo's world ---------------------------------------------------------------------------


@pytest.fixture
def demo_world_file(demo, tmp_path):
    path = tmp_path / "var" / "world.json"
    call_command(
        "seed_demo", emulator_world=str(path), password="x-demo-password", stdout=io.StringIO()
    )
    return path


def test_demo_world_lacks_contact_centre_id_3(demo_world_file):
    assert NOT_PROVISIONED_AT_VCC == [("Contact Centre", 3)]
    world = json.loads(demo_world_file.read_text())
    ids = {
        each["name"]: [item["id"] for item in each["configurations"]] for each in world["accounts"]
    }
    assert ids == {
        "Contact Centre": [1, 2, 4, 5, 6],
        "Production": [1, 2, 3],
        "Sandbox": [1, 2, 3],
    }
    # The registry does link it: the demo's one disagreement.
    assert AccountConfiguration.objects.filter(
        account__name="Contact Centre", configuration_id=3
    ).exists()


def test_demo_world_knows_the_ids_vonage_provided_for_the_walk_through(demo_world_file):
    """Production id 3 and Contact Centre id 6 start flow 424 at VCC before the registry has it."""
    world = json.loads(demo_world_file.read_text())
    ahead = {
        (account["name"], item["id"]): (item["flow"], item["stage"])
        for account in world["accounts"]
        for item in account["configurations"]
        if item["flow"] == 424
    }
    assert ahead == {
        ("Production", 3): (424, "production"),
        ("Contact Centre", 6): (424, "production"),
    }
    assert not AccountConfiguration.objects.filter(flow__number=424).exists()


def test_demo_world_refuses_contact_centre_id_3_through_the_client(demo_world_file):
    credential = _known_secret("contact-centre-client-a", "world-secret-0003")
    call_command(
        "seed_demo", emulator_world=str(demo_world_file), password="x", stdout=io.StringIO()
    )
    with EmulatorServer(world=WorldFile(demo_world_file)) as server:
        point_accounts_at(server)
        credential = ApiCredential.objects.select_related("account").get(pk=credential.pk)
        client = vcc_client_for(credential, config=FAST)
        assert _create(client, 4).session_guid
        with pytest.raises(VccConfigurationNotProvisioned, match="id 3 .* Contact Centre"):
            _create(client, 3)


def test_demo_world_holds_no_secret_in_clear(demo_world_file):
    text = demo_world_file.read_text()
    credentials = list(ApiCredential.objects.all())
    assert credentials and all(credential.client_secret for credential in credentials)
    for credential in credentials:
        assert credential.client_secret not in text
        assert secret_digest(credential.client_secret) in text
    assert '"client_secret"' not in text


def test_world_refuses_a_secret_in_clear():
    world = {"accounts": [{"name": "Sandbox", "credentials": [{"client_id": CLIENT_ID}]}]}
    world["accounts"][0]["credentials"][0]["client_secret"] = CANARY_SECRET
    with pytest.raises(ValueError, match="in clear") as caught:
        StaticWorld(world)
    assert CANARY_SECRET not in str(caught.value)


def test_world_refuses_a_digest_that_is_not_sha256():
    credential = {"client_id": CLIENT_ID, "client_secret_sha256": "abc"}
    with pytest.raises(ValueError, match="64 hex digits"):
        StaticWorld({"accounts": [{"name": "Sandbox", "credentials": [credential]}]})


# --- Editing the file -------------------------------------------------------------------------


def _write(path, world, *, tick: int) -> None:
    path.write_text(json.dumps(world))
    # A distinct modification time, whatever the file system's clock granularity.
    os.utime(path, ns=(tick * 10**9, tick * 10**9))


def test_world_file_is_read_again_when_edited(tmp_path):
    path = tmp_path / "world.json"
    _write(path, WORLD, tick=1_000)
    with EmulatorServer(world=WorldFile(path)) as server:
        client = make_client(server)
        assert _create(client, 2).session_guid
        edited = json.loads(json.dumps(WORLD))
        edited["accounts"][0]["configurations"].pop()  # id 2 withdrawn at VCC
        _write(path, edited, tick=2_000)
        with pytest.raises(VccConfigurationNotProvisioned):
            _create(client, 2)
        assert _create(client, 1).session_guid


def test_world_file_with_a_broken_edit_keeps_the_last_good_world(tmp_path):
    path = tmp_path / "world.json"
    _write(path, WORLD, tick=1_000)
    with EmulatorServer(world=WorldFile(path)) as server:
        client = make_client(server)
        path.write_text('{"accounts": [')
        os.utime(path, ns=(2_000 * 10**9, 2_000 * 10**9))
        assert _create(client, 2).session_guid
        page = requests.get(f"{server.url}/", timeout=3).text
        assert "the last edit was not loaded" in page
        assert "Cannot read the emulator world" in page


def test_world_file_must_be_readable_at_start(tmp_path):
    with pytest.raises(ValueError, match="Cannot read the emulator world"):
        WorldFile(tmp_path / "missing.json")

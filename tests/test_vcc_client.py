"""The VCC client against the emulator over real HTTP on loopback (no mocked requests).

Fault-matrix tests carry the case ids of docs/TEST_PLAN.md: C1 (timeouts set) and C2-C14, one
per fault: C2 nothing sent, C3 read timeout after a create, C4 slow drip, C5 5xx on reads, C6 5xx
on create, C7 429 and Retry-After, C8 401, C9 invalid_client, C10 documented errors, C11
malformed answers, C12 redirects, C13 many processes, C14 short expires_in.
"""

import ast
import email.utils
import json
import logging
import os
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from payments.models import REGION_BASE_URLS, ApiCredential, VccAccount
from payments.services.vcc_clients import vcc_client_for
from payments.vcc import (
    VccAuthenticationError,
    VccClientConfig,
    VccConfigurationNotProvisioned,
    VccError,
    VccOutcomeUnknown,
    VccProtocolError,
    VccProviderError,
    VccRateLimited,
    VccRequestRejected,
    VccSessionNotFound,
    VccUnavailable,
    tokens,
)
from payments.vcc.emulator import EmulatorServer, StaticWorld
from payments.vcc.transport import backoff, parse_retry_after
from tests.factories import ApiCredentialFactory, VccAccountFactory
from tests.vcc_helpers import (
    CANARY_SECRET,
    CLIENT_ID,
    FAST,
    PAYMENT_DATA,
    WORLD,
    black_hole,
    cache_backend,
    closed_port,
    make_client,
    redis_cache,
    require_redis,
)

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _empty_token_cache():
    cache.clear()
    tokens.forget_tokens_in_memory()


@pytest.fixture
def emulator():
    server = EmulatorServer(world=StaticWorld(WORLD)).start()
    yield server
    server.stop()


@pytest.fixture
def client(emulator):
    return make_client(emulator)


def create(client, **kwargs):
    kwargs.setdefault("account_configuration_id", 1)
    return client.create_agent_assist_session(
        payment_data=PAYMENT_DATA, agent_id="agent1234", skip_call_transfer=True, **kwargs
    )


# --- Documented successes ------------------------------------------------------------------------


def test_create_agent_assist_session_returns_the_documented_fields(client, emulator):
    session = create(client)
    assert session.session_guid
    assert session.iframe_url == f"{emulator.url}/pci/agent/{session.session_guid}"
    assert session.agent_access_token and session.agent_refresh_token
    assert session.provider_session_guid
    assert session.payment_form_url


def test_create_sends_exactly_the_documented_body_fields(client, emulator):
    session = create(client, account_configuration_id=2)
    stored = emulator.vcc.session(session.session_guid)
    assert stored.agent_id == "agent1234"
    assert stored.payment_data == PAYMENT_DATA
    assert stored.configuration.configuration_id == 2
    assert stored.configuration.flow_number == 696
    assert stored.skip_call_transfer is True


def test_agent_tokens_are_left_out_of_the_session_repr(client):
    session = create(client)
    assert session.agent_access_token not in repr(session)
    assert session.agent_refresh_token not in repr(session)


def test_create_without_configuration_id_uses_the_accounts_default(client, emulator):
    session = create(client, account_configuration_id=None)
    assert emulator.vcc.session(session.session_guid).configuration.configuration_id == 1


def test_create_digital_session_returns_the_guid_and_no_tokens(client, emulator):
    session = client.create_digital_session(
        payment_data={**PAYMENT_DATA, "CustomerPhoneNumber": "+48500000000"},
        agent_id="agent12345",
        account_configuration_id=1,
    )
    assert emulator.vcc.session(session.session_guid).kind == "digital"
    assert session.details["paymentLinkUrl"].endswith(f"/pci/pay/{session.session_guid}")
    assert not any("token" in key.lower() for key in session.details)


def test_get_session_before_completion_has_no_result(client):
    session = create(client)
    status = client.get_session(session.session_guid)
    assert status.session_guid == session.session_guid
    assert status.session_state == "Created"
    assert status.payment_result_data == {}


def test_get_session_after_completion_has_the_documented_result(client, emulator):
    session = create(client)
    emulator.complete(session.session_guid, "ACCEPT")
    status = client.get_session(session.session_guid)
    assert status.session_state == "Finished"
    assert status.payment_result_data["decision"] == "ACCEPT"
    assert status.payment_result_data["reasonCode"] == "100"
    assert status.payment_result_data["Amount"] == "1240"
    assert status.provider_session_guid == session.provider_session_guid
    assert status.created_on and status.last_updated_on and status.call_guid


def test_token_type_is_compared_case_insensitively(client, emulator):
    emulator.faults.token_type = "bearer"
    assert create(client).session_guid


@pytest.mark.parametrize("backend", ["database", "redis"])
def test_token_is_cached_and_reused_across_clients(emulator, backend):
    with cache_backend(backend):
        create(make_client(emulator))
        second = make_client(emulator)
        second.get_session(create(second).session_guid)
        assert emulator.stats.token_requests == 1


@pytest.mark.parametrize("backend", ["database", "redis"])
def test_cached_token_is_encrypted_in_the_cache(emulator, backend):
    with cache_backend(backend):
        client = make_client(emulator)
        create(client)
        stored = cache.get(client._tokens.key)
        assert stored["token"].startswith("gAAAA")
        assert client._tokens.cached() not in str(stored)


def test_a_token_in_memory_spares_the_cache_read(emulator, monkeypatch):
    create(make_client(emulator))
    reads = []
    monkeypatch.setattr(cache, "get", lambda *args, **kwargs: reads.append(args))
    create(make_client(emulator))
    assert reads == []
    assert emulator.stats.token_requests == 1


def test_a_token_in_memory_that_vcc_refuses_gives_way_to_the_shared_one(emulator):
    """Another process replaced a revoked token: this one's copy is refused once, then fixed."""
    client = make_client(emulator)
    create(client)
    tokens._in_memory[client._tokens.key] = ("revoked-elsewhere", time.time() + 600)
    create(client)
    assert emulator.stats.token_requests == 1
    assert emulator.stats.sessions_created == 2
    assert client._tokens.in_memory() == client._tokens.cached()


def test_a_token_in_memory_expires_with_the_shared_one(emulator):
    emulator.faults.token_lifetime = 2
    client = make_client(emulator, config=replace(FAST, token_refresh_margin=0.5))
    create(client)
    cache.clear()  # the shared entry is gone; memory still has the token until its expiry
    create(client)
    assert emulator.stats.token_requests == 1
    time.sleep(1.1)
    create(client)
    assert emulator.stats.token_requests == 2


def test_token_cache_that_is_down_degrades_to_a_fetch_per_call(emulator, settings, caplog):
    settings.CACHES = {
        "default": {**redis_cache("down"), "LOCATION": f"redis://127.0.0.1:{closed_port()}/1"}
    }
    client = make_client(emulator)
    with caplog.at_level(logging.WARNING, logger="payments.vcc"):
        create(client)
        create(client)
    assert emulator.stats.token_requests == 2
    assert emulator.stats.sessions_created == 2
    assert "token cache unavailable" in caplog.text


def test_token_expires_after_expires_in_minus_the_margin(emulator):
    emulator.faults.token_lifetime = 2
    client = make_client(emulator, config=replace(FAST, token_refresh_margin=0.5))
    create(client)
    create(client)
    assert emulator.stats.token_requests == 1
    time.sleep(1.1)
    create(client)
    assert emulator.stats.token_requests == 2


def test_verify_credentials_asks_for_a_fresh_token_every_time(client, emulator):
    create(client)
    client.verify_credentials()
    client.verify_credentials()
    assert emulator.stats.token_requests == 3


def test_vcc_client_for_uses_the_accounts_urls_and_names(emulator):
    account = VccAccountFactory(
        name="Sandbox", auth_base_url=emulator.url, payment_base_url=f"{emulator.url}/globalpci"
    )
    credential = ApiCredentialFactory(
        account=account, label="A", client_id=CLIENT_ID, secret=CANARY_SECRET
    )
    client = vcc_client_for(credential, config=FAST)
    assert create(client).session_guid
    assert repr(client) == "<VccClient credentials A on Sandbox>"


def test_vcc_client_for_fills_blank_urls_with_the_regions(settings):
    account = VccAccount(name="Sandbox", region="nam", auth_base_url="", payment_base_url="")
    credential = ApiCredential(account=account, label="A", client_id=CLIENT_ID)
    client = vcc_client_for(credential, config=FAST)
    assert (client.auth_base_url, client.payment_base_url) == REGION_BASE_URLS["nam"]


def test_config_from_settings_reads_the_vcc_settings(settings):
    settings.VCC_READ_TIMEOUT = 4.5
    settings.VCC_MAX_RETRIES = 5
    config = VccClientConfig.from_settings()
    assert config.read_timeout == 4.5
    assert config.max_retries == 5


def test_config_refuses_a_zero_timeout():
    with pytest.raises(ImproperlyConfigured, match="VCC_READ_TIMEOUT"):
        VccClientConfig(read_timeout=0)


# --- Refused before anything is sent -------------------------------------------------------------


def test_payment_data_that_is_not_text_is_refused_before_sending(client, emulator):
    with pytest.raises(VccRequestRejected, match="paymentData"):
        client.create_agent_assist_session(payment_data={"Amount": 12.4})
    assert emulator.stats.session_creates == 0


def test_configuration_id_that_is_not_an_integer_is_refused_before_sending(client, emulator):
    with pytest.raises(VccRequestRejected, match="whole number"):
        create(client, account_configuration_id="1")
    assert emulator.stats.session_creates == 0


def test_credential_without_secret_fails_without_a_token_request(emulator):
    client = make_client(emulator, secret="")
    with pytest.raises(VccAuthenticationError, match="Credentials A on Sandbox have no client"):
        create(client)
    assert emulator.stats.token_requests == 0


# --- C1: every requests call has a timeout, nothing disables TLS verification --------------------


def _requests_calls(tree):
    verbs = {"get", "post", "put", "patch", "delete", "head", "request", "send"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            # requests.post(…), session.get(…) on a local requests.Session, self._session.get(…);
            # not request.session.get(…), Django's session store.
            local = isinstance(owner, ast.Name) and owner.id in {"requests", "session"}
            held = isinstance(owner, ast.Attribute) and owner.attr == "_session"
            if node.func.attr in verbs and (local or held):
                yield node


def test_c1_every_requests_call_in_payments_has_an_explicit_timeout():
    calls = 0
    for path in (ROOT / "payments").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for call in _requests_calls(tree):
            calls += 1
            keywords = {keyword.arg for keyword in call.keywords}
            assert "timeout" in keywords, f"{path}:{call.lineno} calls requests without timeout="
            assert "verify" not in keywords, f"{path}:{call.lineno} sets verify="
    assert calls >= 2


def test_c1_nothing_in_payments_disables_tls_verification():
    offenders = [
        str(path)
        for path in (ROOT / "payments").rglob("*.py")
        if "verify=False" in path.read_text()
    ]
    assert offenders == []


# --- C2: nothing sent (refused, connect timeout) -------------------------------------------------


def test_c2_refused_connection_on_a_read_is_retried_then_unavailable(caplog):
    port = closed_port()
    client = make_client(type("Closed", (), {"url": f"http://127.0.0.1:{port}"})())
    with caplog.at_level(logging.WARNING, logger="payments.vcc"):
        with pytest.raises(VccUnavailable, match="connection was refused") as caught:
            client.get_session("0f6c3a39-7cde-4a6f-9a69-5f5d2f2b6c11")
    assert caught.value.retryable is True
    assert "(3 attempts)" in caught.value.message
    assert len([r for r in caplog.records if "retrying" in r.getMessage()]) == 2


def test_c2_refused_create_is_retried_and_creates_exactly_one_session(emulator):
    client = make_client(
        emulator, config=replace(FAST, max_retries=8, backoff_base=0.1, backoff_cap=0.2)
    )
    create(client)
    emulator.stop()
    threading.Timer(0.1, emulator.start).start()
    session = create(client)
    assert emulator.vcc.session(session.session_guid) is not None
    assert emulator.stats.sessions_created == 2
    assert emulator.stats.session_creates == 2


def test_c2_connect_timeout_is_retried_then_unavailable():
    with black_hole() as port:
        server = type("Hole", (), {"url": f"http://127.0.0.1:{port}"})()
        client = make_client(server, config=replace(FAST, connect_timeout=0.1))
        started = time.monotonic()
        with pytest.raises(VccUnavailable, match="connection timed out"):
            client.get_session("0f6c3a39-7cde-4a6f-9a69-5f5d2f2b6c11")
    assert time.monotonic() - started < FAST.deadline


def test_c2_connect_timeout_on_a_create_is_unavailable_not_unknown(emulator):
    client = make_client(emulator, config=replace(FAST, connect_timeout=0.1))
    create(client)
    with black_hole() as port:
        client.payment_base_url = f"http://127.0.0.1:{port}/globalpci"
        with pytest.raises(VccUnavailable, match="no session was created"):
            create(client)


def test_tls_failure_is_not_retried_and_nothing_is_created(emulator, caplog):
    client = make_client(emulator)
    client.auth_base_url = emulator.url.replace("http://", "https://")
    with caplog.at_level(logging.WARNING, logger="payments.vcc"):
        with pytest.raises(VccUnavailable, match="TLS connection failed"):
            create(client)
    assert "retrying" not in caplog.text
    assert emulator.stats.token_requests == 0


def test_base_url_that_is_not_a_url_is_unavailable_without_retries(emulator):
    client = make_client(emulator)
    client.payment_base_url = "emea.api.example/globalpci"
    with pytest.raises(VccUnavailable, match="not a valid http"):
        create(client)
    assert emulator.stats.session_creates == 0


# --- C3: read timeout or dropped connection after a create was sent ------------------------------


def test_c3_read_timeout_after_create_is_outcome_unknown_and_not_retried(client, emulator):
    emulator.faults.inject("create", hang=1.0)
    started = time.monotonic()
    with pytest.raises(VccOutcomeUnknown, match="Do not launch again") as caught:
        create(client)
    assert time.monotonic() - started < 1.0
    assert caught.value.retryable is False
    assert emulator.stats.session_creates == 1
    assert emulator.stats.sessions_created == 1


def test_c3_dropped_connection_after_create_is_outcome_unknown(client, emulator):
    emulator.faults.inject("create", drop=True)
    with pytest.raises(VccOutcomeUnknown, match="connection was dropped"):
        create(client)
    assert emulator.stats.session_creates == 1


def test_c3_digital_create_read_timeout_is_outcome_unknown(client, emulator):
    emulator.faults.inject("create", hang=1.0)
    with pytest.raises(VccOutcomeUnknown):
        client.create_digital_session(payment_data=PAYMENT_DATA, account_configuration_id=1)
    assert emulator.stats.session_creates == 1


def test_c3_read_timeout_on_a_status_read_is_retried(client, emulator):
    guid = create(client).session_guid
    emulator.faults.inject("read", hang=1.0, times=1)
    assert client.get_session(guid).session_guid == guid
    assert emulator.stats.session_reads == 2


# --- C4: slow drip -------------------------------------------------------------------------------


def test_c4_slow_drip_on_a_read_is_stopped_by_the_overall_deadline(client, emulator):
    guid = create(client).session_guid
    emulator.faults.inject("read", drip=0.05)
    client = make_client(emulator, config=replace(FAST, deadline=0.7))
    started = time.monotonic()
    with pytest.raises(VccUnavailable, match="within the 0.7 s allowed"):
        client.get_session(guid)
    assert time.monotonic() - started < 1.0


def test_c4_slow_drip_on_a_create_is_outcome_unknown_at_the_deadline(emulator):
    client = make_client(emulator, config=replace(FAST, deadline=0.7))
    emulator.faults.inject("create", drip=0.05)
    started = time.monotonic()
    with pytest.raises(VccOutcomeUnknown):
        create(client)
    assert time.monotonic() - started < 1.0
    assert emulator.stats.session_creates == 1


def test_c4_slow_drip_of_the_token_answer_is_stopped_by_the_deadline(emulator):
    client = make_client(emulator, config=replace(FAST, deadline=0.7))
    emulator.faults.inject("token", drip=0.05)
    started = time.monotonic()
    with pytest.raises(VccUnavailable):
        create(client)
    assert time.monotonic() - started < 1.0
    assert emulator.stats.session_creates == 0


def test_c4_a_short_deadline_fires_on_time_behind_a_long_one(emulator):
    """One watchdog thread serves every request: a later, shorter deadline must not wait."""
    # 2 s is long enough: a short call stuck behind it would end after about 1.9 s, not < 1.
    slow = make_client(emulator, config=replace(FAST, deadline=2.0))
    emulator.faults.inject("read", drip=0.05)
    guid = create(make_client(emulator)).session_guid
    outcome = {}
    long_call = threading.Thread(
        target=lambda: outcome.setdefault("long", _raises(slow.get_session, guid)), daemon=True
    )
    long_call.start()
    time.sleep(0.1)
    started = time.monotonic()
    with pytest.raises(VccUnavailable, match="within the 0.7 s allowed"):
        make_client(emulator, config=replace(FAST, deadline=0.7)).get_session(guid)
    assert time.monotonic() - started < 1.0
    emulator.faults.clear()
    long_call.join(timeout=10)


def test_c4_a_finished_request_is_never_cut_by_its_watchdog(client, emulator):
    client = make_client(emulator, config=replace(FAST, deadline=0.3))
    guids = [create(client).session_guid for _ in range(5)]
    time.sleep(0.5)  # every watchdog's time passes after its request ended
    assert [client.get_session(guid).session_guid for guid in guids] == guids


def _raises(call, *args):
    try:
        call(*args)
    except VccError as exc:
        return exc
    return None


def test_proxies_come_from_the_environment_read_once_per_host(monkeypatch):
    from payments.vcc import transport

    transport._environment_proxies.cache_clear()
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "internal.example")
    session = transport.new_session()
    settings = session.merge_environment_settings(
        "https://emea.api.example/Auth/connect/token", {}, False, True, None
    )
    assert settings["proxies"]["https"] == "http://proxy.example:3128"
    bypassed = session.merge_environment_settings(
        "https://internal.example/Auth/connect/token", {}, False, True, None
    )
    assert "https" not in bypassed["proxies"]
    transport._environment_proxies.cache_clear()


def test_a_netrc_entry_never_adds_credentials_to_a_vcc_call(tmp_path, monkeypatch):
    import requests

    from payments.vcc import transport

    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password netrc-password\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    call = requests.Request("POST", "http://127.0.0.1:9/Auth/connect/token")
    assert "Authorization" in requests.Session().prepare_request(call).headers  # the file works
    assert "Authorization" not in transport.new_session().prepare_request(call).headers


# --- C5: 5xx on the token or a status read -------------------------------------------------------


def test_c5_5xx_on_the_token_is_retried_within_the_budget(client, emulator):
    emulator.faults.inject("token", status=503, times=2)
    assert create(client).session_guid
    assert emulator.stats.token_requests == 3


def test_c5_5xx_on_the_token_after_the_budget_is_unavailable(client, emulator):
    emulator.faults.inject("token", status=500)
    with pytest.raises(VccUnavailable, match="500 Internal Server Error to 3 attempts") as caught:
        create(client)
    assert caught.value.status == 500
    assert emulator.stats.token_requests == FAST.max_retries + 1
    assert emulator.stats.session_creates == 0


def test_c5_5xx_on_a_status_read_is_retried_within_the_budget(client, emulator):
    guid = create(client).session_guid
    emulator.faults.inject("read", status=502, times=2)
    assert client.get_session(guid).session_guid == guid
    assert emulator.stats.session_reads == 3


def test_c5_5xx_on_a_status_read_after_the_budget_is_unavailable(client, emulator):
    guid = create(client).session_guid
    emulator.faults.inject("read", status=503)
    with pytest.raises(VccUnavailable, match="503 Service Unavailable"):
        client.get_session(guid)
    assert emulator.stats.session_reads == FAST.max_retries + 1


# --- C6: 5xx on a create -------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_c6_5xx_on_a_create_is_outcome_unknown_and_not_retried(client, emulator, status):
    emulator.faults.inject("create", status=status)
    with pytest.raises(VccOutcomeUnknown, match=str(status)) as caught:
        create(client)
    assert caught.value.status == status
    assert emulator.stats.session_creates == 1


# --- C7: 429 and Retry-After ---------------------------------------------------------------------


def test_c7_429_on_a_create_fails_fast_with_the_retry_after(client, emulator):
    emulator.faults.inject("create", status=429, retry_after="7")
    with pytest.raises(VccRateLimited, match="nothing was created. Wait 7 seconds") as caught:
        create(client)
    assert caught.value.retry_after == 7.0
    assert caught.value.retryable is True
    assert emulator.stats.session_creates == 1


def test_c7_retry_after_in_seconds_is_waited_for_on_a_read(client, emulator):
    guid = create(client).session_guid
    emulator.faults.inject("read", status=429, retry_after="1", times=1)
    started = time.monotonic()
    assert client.get_session(guid).session_guid == guid
    assert time.monotonic() - started >= 0.95
    assert emulator.stats.session_reads == 2


def test_c7_retry_after_as_an_http_date_is_honoured_on_the_token(client, emulator):
    when = email.utils.formatdate(time.time() + 1, usegmt=True)
    emulator.faults.inject("token", status=429, retry_after=when, times=1)
    assert create(client).session_guid
    assert emulator.stats.token_requests == 2


def test_c7_garbage_retry_after_falls_back_to_backoff(client, emulator):
    guid = create(client).session_guid
    emulator.faults.inject("read", status=429, retry_after="soon-ish", times=1)
    started = time.monotonic()
    client.get_session(guid)
    assert time.monotonic() - started < 0.5
    assert emulator.stats.session_reads == 2


def test_c7_retry_after_beyond_the_cap_ends_the_retries_at_once(client, emulator):
    guid = create(client).session_guid
    emulator.faults.inject("read", status=429, retry_after="3600")
    with pytest.raises(VccRateLimited, match="Wait 3600 seconds") as caught:
        client.get_session(guid)
    assert caught.value.retry_after == 3600
    assert emulator.stats.session_reads == 1


def test_c7_429_on_reads_after_the_budget_is_rate_limited(client, emulator):
    guid = create(client).session_guid
    emulator.faults.inject("read", status=429, retry_after="0")
    with pytest.raises(VccRateLimited, match="3 attempts"):
        client.get_session(guid)
    assert emulator.stats.session_reads == 3


def test_parse_retry_after_reads_seconds_dates_and_ignores_garbage():
    assert parse_retry_after("120") == 120.0
    assert 0 < parse_retry_after(email.utils.formatdate(time.time() + 30, usegmt=True)) <= 30
    assert parse_retry_after(email.utils.formatdate(time.time() - 30, usegmt=True)) == 0.0
    assert parse_retry_after("-5") is None
    assert parse_retry_after("1.5") is None
    assert parse_retry_after("tomorrow") is None
    assert parse_retry_after(None) is None


def test_backoff_is_jittered_and_capped():
    delays = [backoff(attempt, base=0.5, cap=2.0) for attempt in range(1, 50)]
    assert all(0 <= delay <= 2.0 for delay in delays)
    assert len(set(delays)) > 1


# --- C8: 401 from the Payment API ----------------------------------------------------------------


def test_c8_expired_token_is_dropped_refetched_and_the_read_retried_once(client, emulator):
    guid = create(client).session_guid
    emulator.expire_tokens()
    assert client.get_session(guid).session_guid == guid
    assert emulator.stats.token_requests == 2
    assert emulator.stats.unauthorized == 1


def test_c8_create_after_a_401_is_sent_again_and_makes_one_session(client, emulator):
    create(client)
    emulator.expire_tokens()
    create(client)
    assert emulator.stats.token_requests == 2
    assert emulator.stats.session_creates == 3
    assert emulator.stats.sessions_created == 2


def test_c8_second_401_is_a_hard_authentication_error(client, emulator):
    emulator.faults.inject("payment", status=401, times=5)
    with pytest.raises(VccAuthenticationError, match="401 twice") as caught:
        create(client)
    assert caught.value.status == 401
    assert emulator.stats.token_requests == 2
    assert emulator.stats.session_creates == 2
    assert cache.get(client._tokens.key) is None


# --- C9: invalid_client --------------------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 401])
def test_c9_invalid_client_is_not_retried_and_names_the_credential(emulator, status):
    emulator.faults.invalid_client_status = status
    client = make_client(emulator, secret="a-wrong-secret-value")
    with pytest.raises(VccAuthenticationError) as caught:
        client.verify_credentials()
    assert "credentials A on Sandbox (invalid_client)" in caught.value.message
    assert "a-wrong-secret-value" not in caught.value.message
    assert caught.value.retryable is False
    assert emulator.stats.token_requests == 1


def test_c9_invalid_client_on_a_create_sends_no_create(emulator):
    emulator.faults.invalid_client = True
    with pytest.raises(VccAuthenticationError):
        create(make_client(emulator))
    assert emulator.stats.session_creates == 0


def test_scope_not_granted_is_an_authentication_error_naming_the_scope(client, emulator):
    emulator.faults.granted_scopes = "other"
    with pytest.raises(VccAuthenticationError, match=r"scope \(globalpci\)"):
        client.verify_credentials()


def test_unsupported_grant_type_is_a_rejected_request(client, emulator):
    emulator.faults.inject(
        "token",
        status=400,
        payload={"error": "unsupported_grant_type", "error_description": "Invalid grant_type"},
    )
    with pytest.raises(VccRequestRejected, match="unsupported_grant_type"):
        client.verify_credentials()


# --- C10: documented Payment API errors ----------------------------------------------------------


@pytest.mark.parametrize("envelope", ["json", "text"])
def test_c10_unknown_configuration_id_names_the_id_and_the_account(client, emulator, envelope):
    emulator.faults.error_format = envelope
    with pytest.raises(VccConfigurationNotProvisioned) as caught:
        create(client, account_configuration_id=8)
    assert caught.value.message.startswith(
        "Configuration id 8 is not provisioned on VCC account Sandbox."
    )
    assert caught.value.status == 400
    assert emulator.stats.session_creates == 1


def test_c10_provider_invalid_client_key_is_a_provider_error_for_vonage(client, emulator):
    emulator.faults.provider_error = "invalid_client_key"
    with pytest.raises(VccProviderError, match="Vonage must fix"):
        create(client)


def test_c10_provider_invalid_client_names_the_configuration(client, emulator):
    emulator.faults.provider_error = "invalid_client"
    with pytest.raises(VccProviderError, match="configuration id 2"):
        create(client, account_configuration_id=2)


def test_c10_documented_error_on_a_5xx_is_mapped_not_retried(client, emulator):
    emulator.faults.inject(
        "create",
        status=500,
        payload={
            "message": "Account configuration does not exists for account: Sandbox, "
            "configuration Id: 9."
        },
    )
    with pytest.raises(VccConfigurationNotProvisioned):
        create(client, account_configuration_id=9)


def test_c10_missing_payment_data_answer_is_a_rejected_request_with_vccs_reason(client, emulator):
    emulator.faults.inject(
        "create", status=400, payload={"message": "The paymentData field is required."}
    )
    with pytest.raises(VccRequestRejected, match="paymentData field is required") as caught:
        create(client)
    assert caught.value.status == 400


def test_c10_unknown_session_is_not_found(client):
    with pytest.raises(VccSessionNotFound, match="purged 15 minutes"):
        client.get_session(str(uuid.uuid4()))


def test_c10_session_purged_after_completion_is_not_found(client, emulator):
    emulator.faults.purge_after = 0.2
    guid = create(client).session_guid
    emulator.complete(guid, "DECLINE")
    assert client.get_session(guid).payment_result_data["decision"] == "DECLINE"
    time.sleep(0.3)
    with pytest.raises(VccSessionNotFound):
        client.get_session(guid)


def test_c10_session_of_another_account_is_not_found(client, emulator):
    guid = create(client).session_guid
    other = make_client(
        emulator,
        client_id="production-client-b",
        secret="other-secret",
        account_name="Production",
        credential_label="B",
    )
    with pytest.raises(VccSessionNotFound):
        other.get_session(guid)


def test_c10_invalid_client_from_the_payment_api_names_the_credential(client, emulator):
    emulator.faults.inject("create", status=400, payload={"error": "invalid_client"})
    with pytest.raises(VccAuthenticationError, match="credentials A on Sandbox"):
        create(client)


def test_c10_403_asks_for_the_payment_api_scope(client, emulator):
    emulator.faults.inject("read", status=403)
    with pytest.raises(VccAuthenticationError, match="403 Forbidden"):
        client.get_session(str(uuid.uuid4()))


# --- C11: malformed answers ----------------------------------------------------------------------


def test_c11_html_with_200_on_a_read_is_a_protocol_error(client, emulator):
    guid = create(client).session_guid
    emulator.faults.inject("read", body="html")
    with pytest.raises(VccProtocolError, match="HTML page"):
        client.get_session(guid)


def test_c11_malformed_json_on_a_create_warns_a_session_may_exist(client, emulator):
    emulator.faults.inject("create", body="malformed")
    with pytest.raises(VccProtocolError, match="may have created a session") as caught:
        create(client)
    assert caught.value.status == 200
    assert emulator.stats.session_creates == 1


def test_c11_missing_fields_on_a_create_is_a_protocol_error(client, emulator):
    emulator.faults.inject("create", body="empty")
    with pytest.raises(VccProtocolError, match="no sessionGuid"):
        create(client)


def test_c11_iframe_url_that_is_not_a_web_address_is_refused(client, emulator):
    emulator.faults.inject(
        "create",
        status=200,
        payload={
            "sessionGuid": str(uuid.uuid4()),
            "iframeUrl": "javascript:alert(1)",
            "agentAccessToken": "a",
            "agentRefreshToken": "b",
        },
    )
    with pytest.raises(VccProtocolError, match="not a web address"):
        create(client)


def test_c11_token_answer_without_access_token_is_a_protocol_error(client, emulator):
    emulator.faults.inject("token", body="empty")
    with pytest.raises(VccProtocolError, match="no access_token"):
        client.verify_credentials()


def test_c11_non_bearer_token_type_is_a_protocol_error(client, emulator):
    emulator.faults.token_type = "mac"
    with pytest.raises(VccProtocolError, match="not a bearer token"):
        client.verify_credentials()


def test_c11_malformed_status_is_a_protocol_error():
    from payments.vcc.client import SessionStatus

    with pytest.raises(VccProtocolError):
        SessionStatus.from_payload({"sessionGuid": "x", "paymentResultData": "ACCEPT"})
    with pytest.raises(VccProtocolError):
        SessionStatus.from_payload({"sessionState": "Finished"})


def test_c11_answer_bodies_are_never_logged_or_quoted(client, emulator, caplog):
    guid = create(client).session_guid
    emulator.faults.inject("read", body="html")
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(VccProtocolError) as caught:
            client.get_session(guid)
    assert "Sign in" not in caplog.text
    assert "Sign in" not in caught.value.message


# --- C12: redirects ------------------------------------------------------------------------------


def test_c12_redirect_from_the_token_endpoint_is_not_followed(client, emulator):
    elsewhere = EmulatorServer(world=StaticWorld(WORLD)).start()
    try:
        emulator.faults.inject("token", status=307, location=f"{elsewhere.url}/Auth/connect/token")
        with pytest.raises(VccProtocolError, match="redirect to 127.0.0.1") as caught:
            client.verify_credentials()
        assert elsewhere.stats.token_requests == 0
        assert CANARY_SECRET not in caught.value.message
    finally:
        elsewhere.stop()


def test_c12_redirect_from_the_payment_api_is_not_followed(client, emulator):
    emulator.faults.inject("create", status=302, location="https://elsewhere.example/")
    with pytest.raises(VccProtocolError, match="not followed"):
        create(client)


# --- C13: many processes, one token --------------------------------------------------------------

WORKER = """
import json, os, sys, time
import django
django.setup()
from payments.vcc.client import VccClient, VccClientConfig
start_line = sys.argv[1]
open(os.path.join(start_line, f"ready-{os.getpid()}"), "w").close()
while not os.path.exists(os.path.join(start_line, "go")):
    time.sleep(0.002)
client = VccClient(
    auth_base_url=os.environ["VCC_TEST_URL"],
    payment_base_url=os.environ["VCC_TEST_URL"] + "/globalpci",
    client_id=os.environ["VCC_TEST_CLIENT_ID"],
    client_secret=os.environ["VCC_TEST_CLIENT_SECRET"],
    config=VccClientConfig(connect_timeout=2, read_timeout=5, deadline=10),
)
session = client.create_agent_assist_session(
    payment_data={"Amount": "1.00"}, account_configuration_id=1, skip_call_transfer=True
)
print(json.dumps({"sessionGuid": session.session_guid}))
"""
# Django's DatabaseCache table, for workers on a SQLite file of their own. The file is put in
# WAL mode here, as migrate does for a real database: two workers switching a fresh file to WAL
# at the same moment can find it locked, and the client would then fetch without the cache.
CACHE_TABLE_SQL = """
PRAGMA journal_mode=WAL;
CREATE TABLE "vcc_registry_cache" (
    "cache_key" varchar(255) NOT NULL PRIMARY KEY, "value" text NOT NULL,
    "expires" datetime NOT NULL);
CREATE INDEX "vcc_registry_cache_expires" ON "vcc_registry_cache" ("expires");
"""


def _database_url_for_workers(tmp_path: Path) -> str:
    """The test database on PostgreSQL (other processes see it); else a SQLite file."""
    if connection.vendor == "postgresql":
        db = connection.settings_dict
        host = db["HOST"] or "127.0.0.1"
        return f"postgres://{db['USER']}:{db['PASSWORD']}@{host}:{db['PORT'] or 5432}/{db['NAME']}"
    path = tmp_path / "workers.sqlite3"
    with sqlite3.connect(path) as database:
        database.executescript(CACHE_TABLE_SQL)
    return f"sqlite:///{path}"


def _run_workers(count: int, *, server, cache_url: str, database_url: str, tmp_path: Path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "vccregistry.settings",
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": database_url,
        "CACHE_URL": cache_url,
        "VCC_TEST_URL": server.url,
        "VCC_TEST_CLIENT_ID": CLIENT_ID,
        "VCC_TEST_CLIENT_SECRET": CANARY_SECRET,
    }
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(tmp_path)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    deadline = time.monotonic() + 30
    while len(list(tmp_path.glob("ready-*"))) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    (tmp_path / "go").touch()
    results = []
    for worker in workers:
        out, err = worker.communicate(timeout=60)
        assert worker.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


@pytest.mark.parametrize("backend", ["database", "redis"])
def test_c13_two_processes_share_one_token_request(emulator, backend, tmp_path):
    if backend == "redis":
        require_redis()
        cache_url = f"redis://127.0.0.1:6379/1?KEY_PREFIX=test-vcc-{uuid.uuid4().hex[:12]}"
        database_url = f"sqlite:///{tmp_path / 'unused.sqlite3'}"
    else:
        cache_url = "dbcache://vcc_registry_cache"
        database_url = _database_url_for_workers(tmp_path)
    emulator.faults.latency_ms = 300  # both processes ask while the first fetch is in flight
    results = _run_workers(
        2, server=emulator, cache_url=cache_url, database_url=database_url, tmp_path=tmp_path
    )
    assert len({result["sessionGuid"] for result in results}) == 2
    assert emulator.stats.token_requests == 1
    assert emulator.stats.sessions_created == 2


def test_c13_concurrent_threads_make_one_token_request(emulator, settings):
    require_redis()
    settings.CACHES = {"default": redis_cache(f"test-vcc-{uuid.uuid4().hex[:12]}")}
    emulator.faults.latency_ms = 200
    barrier = threading.Barrier(8)
    errors = []

    def launch():
        try:
            barrier.wait(timeout=5)
            # Timeouts well above the latency: this tests the single token fetch, and FAST's
            # 0.3 s read timeout left 0.1 s for eight threads on a busy machine.
            create(make_client(emulator, config=replace(FAST, read_timeout=5, deadline=10)))
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=launch) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert errors == []
    assert emulator.stats.token_requests == 1
    assert emulator.stats.sessions_created == 8


# --- C14: expires_in shorter than the refresh margin ---------------------------------------------


@pytest.mark.parametrize("backend", ["database", "redis"])
def test_c14_expires_in_below_the_margin_refreshes_before_every_use(emulator, backend):
    emulator.faults.token_lifetime = 30  # the margin is 60
    with cache_backend(backend):
        client = make_client(emulator)
        create(client)
        create(client)
        create(client)
        assert emulator.stats.token_requests == 3
        assert cache.get(client._tokens.key) is None


# --- L1, L4: nothing secret in logs or messages --------------------------------------------------


def test_l1_debug_logging_never_shows_the_secret_or_any_token(client, emulator, caplog):
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("urllib3").setLevel(logging.DEBUG)
        session = create(client)
        emulator.expire_tokens()
        client.get_session(session.session_guid)
        emulator.faults.inject("read", status=503, times=1)
        client.get_session(session.session_guid)
    text = caplog.text
    assert "payments.vcc" in text
    for secret in (CANARY_SECRET, session.agent_access_token, session.agent_refresh_token):
        assert secret not in text
    assert "Bearer " not in text


def test_l4_error_text_echoing_the_secret_is_redacted(client, emulator):
    echoed = f"client_secret {CANARY_SECRET} is malformed"
    emulator.faults.inject(
        "token", status=400, payload={"error": "invalid_request", "error_description": echoed}
    )
    with pytest.raises(VccRequestRejected) as caught:
        client.verify_credentials()
    assert CANARY_SECRET not in caught.value.message
    assert "[redacted]" in caught.value.message


def test_no_error_message_holds_the_secret(emulator):
    faults = [
        ("token", {"status": 500}),
        ("create", {"status": 503}),
        ("create", {"hang": 1.0}),
        ("create", {"status": 429}),
        ("token", {"body": "html"}),
        ("token", {"status": 307}),
    ]
    for target, rule in faults:
        emulator.faults.clear()
        emulator.faults.inject(target, **rule)
        cache.clear()
        tokens.forget_tokens_in_memory()
        with pytest.raises(VccError) as caught:
            create(make_client(emulator))
        assert CANARY_SECRET not in str(caught.value)
        assert CANARY_SECRET not in repr(caught.value.__dict__)

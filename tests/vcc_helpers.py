"""Shared pieces of the VCC client and emulator tests: a static world, fast timeouts, caches."""

import os
import socket
import uuid
from contextlib import contextmanager

import pytest
from django.test import override_settings

from payments.vcc.client import VccClient, VccClientConfig
from payments.vcc.emulator import secret_digest
from tests.processes import free_port

# The canary: a client secret that must appear nowhere but in the body of the token request.
CANARY_SECRET = "canary-secret-5f0c1d9e7a"
CLIENT_ID = "sandbox-client-a"
WORLD = {
    "accounts": [
        {
            "name": "Sandbox",
            "credentials": [
                {"client_id": CLIENT_ID, "client_secret_sha256": secret_digest(CANARY_SECRET)}
            ],
            "configurations": [
                {
                    "id": 1,
                    "flow": 695,
                    "flow_name": "Card payment",
                    "stage": "staging",
                    "environment": "PCI Pal staging",
                },
                {
                    "id": 2,
                    "flow": 696,
                    "flow_name": "Card refund",
                    "stage": "staging",
                    "environment": "PCI Pal staging",
                },
            ],
        },
        {
            "name": "Production",
            "credentials": [
                {
                    "client_id": "production-client-b",
                    "client_secret_sha256": secret_digest("other-secret"),
                }
            ],
            "configurations": [
                {
                    "id": 1,
                    "flow": 422,
                    "flow_name": "Card payment",
                    "stage": "production",
                    "environment": "PCI Pal production",
                },
            ],
        },
    ]
}
PAYMENT_DATA = {
    "FirstName": "John",
    "Surname": "Smith",
    "Amount": "12.40",
    "Currency": "GBP",
    "MerchantReferenceCode": "0123456789098760",
}
FAST = VccClientConfig(
    connect_timeout=0.5,
    read_timeout=0.3,
    deadline=2.0,
    token_refresh_margin=60,
    max_retries=2,
    backoff_base=0.01,
    backoff_cap=0.05,
    retry_after_cap=1.5,
)
DATABASE_CACHE = {
    "BACKEND": "django.core.cache.backends.db.DatabaseCache",
    "LOCATION": "vcc_registry_cache",
}
REDIS_URL = "redis://127.0.0.1:6379/1"


def make_client(server, *, secret: str = CANARY_SECRET, config=FAST, **kwargs) -> VccClient:
    return VccClient(
        auth_base_url=server.url,
        payment_base_url=f"{server.url}/globalpci",
        client_id=kwargs.pop("client_id", CLIENT_ID),
        client_secret=secret,
        account_name=kwargs.pop("account_name", "Sandbox"),
        credential_label=kwargs.pop("credential_label", "A"),
        config=config,
        **kwargs,
    )


def redis_available() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5) as probe:
            probe.sendall(b"PING\r\n")
            return probe.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def require_redis() -> None:
    if not redis_available():
        if os.environ.get("CI") == "true":
            pytest.fail("Redis must run on 127.0.0.1:6379 in CI")
        pytest.skip("no Redis on 127.0.0.1:6379")


def redis_cache(prefix: str) -> dict:
    return {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": prefix,
    }


@contextmanager
def cache_backend(name: str):
    """Run with the database cache or Redis (a unique key prefix: Redis is shared)."""
    if name == "redis":
        require_redis()
        caches = {"default": redis_cache(f"test-vcc-{uuid.uuid4().hex[:12]}")}
    else:
        caches = {"default": DATABASE_CACHE}
    with override_settings(CACHES=caches):
        yield


def closed_port() -> int:
    """A loopback port nothing listens on: connections to it are refused."""
    return free_port()


@contextmanager
def black_hole():
    """A loopback port whose accept queue is full: new connections hang until they time out."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    filler = socket.create_connection(listener.getsockname(), timeout=1)
    try:
        yield listener.getsockname()[1]
    finally:
        filler.close()
        listener.close()

"""Where the agent's payment page (VCC's iframeUrl) may be, before the agent's tokens go there.

The registry POSTs the agent's access and refresh tokens to the iframeUrl VCC returns. VCC
documents no list of the hosts that page is served from, so the list is a setting,
VCC_AGENT_PAGE_HOSTS (per region, defaults in settings, meant to be checked for each
deployment); the local emulator's origin is allowed only when VCC_EMULATOR_URL is configured.
"""

from urllib.parse import urlsplit

from django.conf import settings


def emulator_origin() -> str:
    """The configured emulator's origin (scheme://host:port), or "" when none is configured."""
    return _origin(settings.VCC_EMULATOR_URL or "") or ""


def agent_page_hosts(region: str) -> list[str]:
    """The host patterns ("host", "host:port" or "*.domain") allowed for a region's accounts."""
    configured = settings.VCC_AGENT_PAGE_HOSTS
    return [*configured.get(str(region), []), *configured.get("*", [])]


def agent_page_refusal(*, region: str, iframe_url: str) -> str | None:
    """Why the agent's tokens may not be posted to iframe_url, or None when they may."""
    try:
        parts = urlsplit(iframe_url)
        port = parts.port
    except ValueError:
        parts, port = None, None
    if parts is None or not parts.hostname or parts.username or parts.password:
        return (
            "VCC returned an agent page address that is not a plain web address, so the agent's "
            "page was not opened and its tokens were not sent. The session was created; tell a "
            "registry admin."
        )
    host = parts.hostname.lower()
    if _origin(iframe_url) == emulator_origin():
        return None
    patterns = agent_page_hosts(region)
    if parts.scheme == "https" and any(_matches(host, port, pattern) for pattern in patterns):
        return None
    shown = host if port is None else f"{host}:{port}"
    return (
        f"VCC returned an agent page on {parts.scheme}://{shown}, which is not an allowed agent "
        f"page host for region {region} (VCC_AGENT_PAGE_HOSTS), so the agent's page was not "
        "opened and its tokens were not sent there. The session was created on VCC. Tell a "
        "registry admin: if that host really is the PCI provider's agent page, add it to "
        "VCC_AGENT_PAGE_HOSTS."
    )


def _matches(host: str, port: int | None, pattern: str) -> bool:
    pattern_host, _, pattern_port = pattern.strip().lower().partition(":")
    if (str(port) if port is not None else "443") != (pattern_port or "443"):
        return False
    if pattern_host.startswith("*."):
        return host.endswith(pattern_host[1:]) and len(host) > len(pattern_host) - 1
    return host == pattern_host


def _origin(url: str) -> str | None:
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc.lower()}"

"""Faults the emulator injects on request, and the counters tests read attempts from."""

import threading
from dataclasses import asdict, dataclass, field, fields

TARGETS = {
    "token": {"token"},
    "create": {"create"},
    "read": {"read"},
    "payment": {"create", "read"},
    "any": {"token", "create", "read"},
}
BODIES = {"html", "malformed", "empty"}


@dataclass
class FaultRule:
    """One injected fault for the next `times` matching requests (None: until cleared).

    on: token | create | read | payment (create and read) | any.
    status: answer this status instead (5xx, 429, 401, 3xx...); a create is not made.
    payload: the body sent with that status: a JSON object, or text.
    retry_after: the Retry-After header sent with it, verbatim (seconds, HTTP date or garbage).
    location: the Location header of a 3xx.
    hang: seconds to wait after handling before answering (a create is made).
    drip: seconds between the bytes of the body (a create is made).
    drop: close the connection without answering (a create is made).
    body: answer 200 with "html", "malformed" JSON or an "empty" object instead.
    """

    on: str = "any"
    status: int | None = None
    payload: dict | str | None = None
    retry_after: str | None = None
    location: str | None = None
    hang: float = 0.0
    drip: float = 0.0
    drop: bool = False
    body: str | None = None
    times: int | None = None

    def __post_init__(self):
        if self.on not in TARGETS:
            raise ValueError(f"on must be one of {', '.join(TARGETS)}, not {self.on!r}")
        if self.body is not None and self.body not in BODIES:
            raise ValueError(f"body must be one of {', '.join(sorted(BODIES))}")
        if self.status is not None and not 100 <= int(self.status) <= 599:
            raise ValueError("status must be an HTTP status code")
        if self.times is not None and int(self.times) < 1:
            raise ValueError("times must be at least 1 (or null: until cleared)")


@dataclass
class Faults:
    """Fault injection settings; change them directly or through POST /_emulator/faults."""

    latency_ms: int = 0
    token_lifetime: int = 3600
    token_type: str = "Bearer"
    granted_scopes: str = "globalpci"
    purge_after: float = 900.0
    invalid_client: bool = False
    invalid_client_status: int = 400
    provider_error: str = ""
    error_format: str = "json"
    webhook_retry_interval: float = 5.0
    webhook_max_attempts: int = 10
    rules: list[FaultRule] = field(default_factory=list)

    def __post_init__(self):
        self._lock = threading.Lock()

    def inject(self, on: str = "any", **rule) -> FaultRule:
        """Add a fault rule, e.g. inject("create", status=503, times=1)."""
        added = FaultRule(on=on, **rule)
        with self._lock:
            self.rules.append(added)
        return added

    def take(self, target: str) -> FaultRule | None:
        """Return the first rule matching a request to target, using up one of its times."""
        with self._lock:
            for rule in self.rules:
                if target in TARGETS[rule.on]:
                    if rule.times is not None:
                        rule.times -= 1
                        if rule.times == 0:
                            self.rules.remove(rule)
                    return rule
        return None

    def clear(self) -> None:
        """Back to a healthy VCC."""
        defaults = Faults()
        with self._lock:
            for item in fields(self):
                setattr(self, item.name, getattr(defaults, item.name))

    def update(self, data: dict) -> None:
        """Apply settings from JSON; "rules" adds rules, "clear": true resets first."""
        if not isinstance(data, dict):
            raise ValueError("Send a JSON object of fault settings.")
        data = dict(data)
        if data.pop("clear", False):
            self.clear()
        try:
            rules = [FaultRule(**rule) for rule in data.pop("rules", [])]
        except TypeError as exc:
            raise ValueError(f"A fault rule is not valid: {exc}.") from None
        known = {item.name: item.type for item in fields(self) if item.name != "rules"}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f"Unknown fault settings: {', '.join(unknown)}.")
        converted = {}
        for name, value in data.items():
            kind = known[name]
            if kind is bool and not isinstance(value, bool):
                raise ValueError(f"{name} must be true or false.")
            try:
                converted[name] = kind(value)
            except (TypeError, ValueError):
                raise ValueError(f"{name} must be a {kind.__name__}.") from None
        with self._lock:
            for name, value in converted.items():
                setattr(self, name, value)
            self.rules.extend(rules)

    def as_dict(self) -> dict:
        with self._lock:
            return {
                **{item.name: getattr(self, item.name) for item in fields(self)},
                "rules": [asdict(rule) for rule in self.rules],
            }


@dataclass
class Stats:
    """Counters of what the emulator received and did."""

    token_requests: int = 0
    tokens_issued: int = 0
    session_creates: int = 0
    sessions_created: int = 0
    session_reads: int = 0
    unauthorized: int = 0
    faults_injected: int = 0
    agent_page_loads: int = 0
    payments_completed: int = 0
    webhook_attempts: int = 0
    webhooks_delivered: int = 0
    webhooks_abandoned: int = 0

    def __post_init__(self):
        self._lock = threading.Lock()

    def count(self, name: str, amount: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + amount)

    def reset(self) -> None:
        with self._lock:
            for item in fields(self):
                setattr(self, item.name, 0)

    def as_dict(self) -> dict:
        with self._lock:
            return {item.name: getattr(self, item.name) for item in fields(self)}

    def __getitem__(self, name: str) -> int:
        return getattr(self, name)

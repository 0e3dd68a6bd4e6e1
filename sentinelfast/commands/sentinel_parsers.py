"""Response callbacks for Sentinel commands, with redis-py's RESP2 legacy shapes."""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, Optional, Tuple

from .parsers import str_if_bytes

SENTINEL_STATE_TYPES: Dict[str, Any] = {
    name: int
    for name in (
        "can-failover-its-master",
        "config-epoch",
        "down-after-milliseconds",
        "failover-timeout",
        "info-refresh",
        "last-hello-message",
        "last-ok-ping-reply",
        "last-ping-reply",
        "last-ping-sent",
        "master-link-down-time",
        "master-port",
        "num-other-sentinels",
        "num-slaves",
        "o-down-time",
        "pending-commands",
        "parallel-syncs",
        "port",
        "quorum",
        "role-reported-time",
        "s-down-time",
        "slave-priority",
        "slave-repl-offset",
        "voted-leader-epoch",
    )
}
"""State fields converted to int; every other field stays a str."""

_FLAG_BOOLEANS = (
    ("is_master", "master"),
    ("is_slave", "slave"),
    ("is_sdown", "s_down"),
    ("is_odown", "o_down"),
    ("is_sentinel", "sentinel"),
    ("is_disconnected", "disconnected"),
    ("is_master_down", "master_down"),
)


def parse_sentinel_state(pairs: Iterable[Any]) -> Dict[str, Any]:
    """Flat ``[field, value, ...]`` of one master/replica/sentinel -> typed state dict.

    Fields in ``SENTINEL_STATE_TYPES`` become int (left as str if that fails),
    ``flags`` stays the comma-separated str, and ``is_master``, ``is_slave``,
    ``is_sdown``, ``is_odown``, ``is_sentinel``, ``is_disconnected`` and
    ``is_master_down`` are added from the flags.
    """
    items = iter(str_if_bytes(item) for item in pairs)
    state: Dict[str, Any] = {}
    for key, value in zip(items, items):
        converter = SENTINEL_STATE_TYPES.get(key)
        if converter is not None:
            try:
                value = converter(value)
            except Exception:
                pass
        state[key] = value
    flags = set(state["flags"].split(","))
    for name, flag in _FLAG_BOOLEANS:
        state[name] = flag in flags
    return state


def parse_sentinel_master(response: Any, **options: Any) -> Dict[str, Any]:
    """SENTINEL MASTER -> state dict."""
    return parse_sentinel_state(response)


def parse_sentinel_masters(response: Any, **options: Any) -> Dict[str, Dict[str, Any]]:
    """SENTINEL MASTERS -> ``{master name: state dict}``."""
    masters: Dict[str, Dict[str, Any]] = {}
    for item in response:
        state = parse_sentinel_state(item)
        masters[state["name"]] = state
    return masters


def parse_sentinel_slaves_and_sentinels(response: Any, **options: Any) -> List[Dict[str, Any]]:
    """SENTINEL SLAVES / SENTINELS -> list of state dicts."""
    return [parse_sentinel_state(item) for item in response]


def parse_sentinel_get_master(response: Any, **options: Any) -> Optional[Tuple[Any, int]]:
    """SENTINEL GET-MASTER-ADDR-BY-NAME -> ``(host, int port)``, or None when unknown.

    The host keeps the reply's type (bytes, or str with decode_responses).
    """
    return response and (response[0], int(response[1])) or None

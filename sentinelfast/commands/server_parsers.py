"""Response callbacks for server commands (INFO, CONFIG GET, CLIENT LIST, LASTSAVE, ...)."""

from __future__ import annotations

import datetime
from typing import Any, Dict, List, Optional

from .parsers import str_if_bytes

# CLIENT INFO fields that the server defines as integers (networking.c)
_CLIENT_INFO_INT_FIELDS = frozenset(
    (
        "id",
        "age",
        "idle",
        "db",
        "sub",
        "psub",
        "multi",
        "qbuf",
        "qbuf-free",
        "obl",
        "argv-mem",
        "oll",
        "omem",
        "tot-mem",
    )
)


def _info_value(value: str) -> Any:
    """Type one INFO value: int, float, list (``a,b``), dict (``k=v,...``) or str."""
    if "," not in value and "=" not in value:
        try:
            return float(value) if "." in value else int(value)
        except ValueError:
            return value
    if "=" not in value:
        return [_info_value(part) for part in value.split(",") if part]
    fields: Dict[str, Any] = {}
    for item in value.split(","):
        if not item:
            continue
        if "=" in item:
            key, sub_value = item.rsplit("=", 1)
            fields[key] = _info_value(sub_value)
        else:
            fields[item] = True
    return fields


def parse_info(response: Any, **options: Any) -> Dict[str, Any]:
    """INFO -> dict of typed values.

    ``module:`` lines are collected in a ``modules`` list and lines without a
    colon in a ``__raw__`` list.
    """
    info: Dict[str, Any] = {}
    for line in str_if_bytes(response).splitlines():
        if not line or line.startswith("#"):
            continue
        if ":" not in line:
            info.setdefault("__raw__", []).append(line)
            continue
        key, value = line.split(":", 1)
        if key == "cmdstat_host":
            # the "host:" pseudo-command is the only key that contains ':'
            key, value = line.rsplit(":", 1)
        if key == "module":
            info.setdefault("modules", []).append(_info_value(value))
        else:
            info[key] = _info_value(value)
    return info


def parse_config_get(response: Any, **options: Any) -> Dict[Any, Any]:
    """CONFIG GET -> ``{name: value}`` with str keys and values."""
    decoded = [None if item is None else str_if_bytes(item) for item in response]
    if not decoded:
        return {}
    items = iter(decoded)
    return dict(zip(items, items))


def parse_client_list(response: Any, **options: Any) -> List[Dict[str, str]]:
    """CLIENT LIST -> one dict of str per client line.

    A token without ``=`` continues the previous value (e.g. a unix socket
    path containing a space).
    """
    clients = []
    for line in str_if_bytes(response).splitlines():
        client: Dict[str, str] = {}
        last_key: Optional[str] = None
        for token in line.split(" "):
            if "=" in token:
                key, value = token.split("=", 1)
                client[key] = value
                last_key = key
            else:
                client[last_key] += " " + token  # type: ignore[index]
        if client:
            clients.append(client)
    return clients


def parse_client_info(response: Any, **options: Any) -> Dict[str, Any]:
    """CLIENT INFO -> dict, with the integer fields as int."""
    info: Dict[str, Any] = {}
    for token in str_if_bytes(response).strip().split():
        key, value = token.split("=")
        info[key] = value
    for key in _CLIENT_INFO_INT_FIELDS:
        if key in info:
            info[key] = int(info[key])
    return info


def timestamp_to_datetime(response: Any, **options: Any) -> Optional[datetime.datetime]:
    """Unix timestamp reply -> local naive datetime (None when empty or not a number)."""
    if not response:
        return None
    try:
        seconds = int(response)
    except ValueError:
        return None
    return datetime.datetime.fromtimestamp(seconds)

"""``parse_url``: redis://, rediss:// and unix:// URLs -> connection keyword arguments.

Follows redis-py 8.1's ``redis.connection.parse_url``::

    redis://[[username]:[password]]@host[:port][/db][?option=value...]
    rediss://...                      (TLS)
    unix://[[username]:[password]]@/path/to/socket.sock[?db=0&...]

Username, password, host and path are percent-decoded; query-string options
named in ``URL_QUERY_ARGUMENT_PARSERS`` are converted, others are kept as str.
"""

from __future__ import annotations

from ssl import VerifyFlags
from typing import Any, Callable, Dict, List, Optional
from urllib.parse import parse_qs, unquote, urlparse

_SCHEMES = ("redis://", "rediss://", "unix://")
FALSE_STRINGS = ("0", "F", "FALSE", "N", "NO")


def to_bool(value: Any) -> Optional[bool]:
    """URL option -> bool: "0", "f", "false", "n", "no" (any case) are False; "" is None."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.upper() in FALSE_STRINGS:
        return False
    return bool(value)


def parse_ssl_verify_flags(value: str) -> List[VerifyFlags]:
    """``"[VERIFY_X509_STRICT, VERIFY_X509_PARTIAL_CHAIN]"`` -> list of ``ssl.VerifyFlags``."""
    flags = []
    for name in value.replace("[", "").replace("]", "").split(","):
        name = name.strip()
        if not hasattr(VerifyFlags, name):
            raise ValueError(f"Invalid ssl verify flag: {name}")
        flags.append(getattr(VerifyFlags, name))
    return flags


URL_QUERY_ARGUMENT_PARSERS: Dict[str, Callable[[str], Any]] = {
    "db": int,
    "socket_timeout": float,
    "socket_connect_timeout": float,
    "socket_read_size": int,
    "socket_keepalive": to_bool,
    "retry_on_timeout": to_bool,
    "retry_on_error": list,
    "max_connections": int,
    "health_check_interval": int,
    "ssl_check_hostname": to_bool,
    "ssl_include_verify_flags": parse_ssl_verify_flags,
    "ssl_exclude_verify_flags": parse_ssl_verify_flags,
    "ssl_min_version": int,
    "timeout": float,
    "protocol": int,
    "legacy_responses": to_bool,
}
"""Converters for query-string options (same table as redis-py)."""


def _connection_class(name: str) -> Any:
    """sentinelfast's connection class ``name``, or None if it isn't available."""
    try:
        from . import connection
    except ImportError:
        return None
    return getattr(connection, name, None)


def parse_url(url: str) -> Dict[str, Any]:
    """Return the connection keyword arguments described by ``url``.

    Keys that may appear: ``username``, ``password``, ``host``, ``port``,
    ``db``, ``path`` (unix), ``connection_class`` (UnixDomainSocketConnection
    for unix://, SSLConnection for rediss://) and any query-string option.
    The db comes from ``?db=`` or else from the path (``redis://host/2``).
    Raises ValueError for another scheme or an option value that can't be converted.
    """
    if not url.startswith(_SCHEMES):
        raise ValueError(
            "Redis URL must specify one of the following "
            "schemes (redis://, rediss://, unix://)"
        )
    parsed = urlparse(url)
    kwargs: Dict[str, Any] = {}

    # parse_qs already percent-decodes the values: don't unquote them again
    for name, values in parse_qs(parsed.query).items():
        if not values:
            continue
        value = values[0]
        converter = URL_QUERY_ARGUMENT_PARSERS.get(name)
        if converter is None:
            kwargs[name] = value
            continue
        try:
            kwargs[name] = converter(value)
        except (TypeError, ValueError):
            raise ValueError(f"Invalid value for '{name}' in connection URL.")

    if parsed.username:
        kwargs["username"] = unquote(parsed.username)
    if parsed.password:
        kwargs["password"] = unquote(parsed.password)

    if parsed.scheme == "unix":
        if parsed.path:
            kwargs["path"] = unquote(parsed.path)
        unix_class = _connection_class("UnixDomainSocketConnection")
        if unix_class is not None:
            kwargs["connection_class"] = unix_class
        return kwargs

    if parsed.hostname:
        kwargs["host"] = unquote(parsed.hostname)
    if parsed.port:
        kwargs["port"] = int(parsed.port)
    if parsed.path and "db" not in kwargs:
        try:
            kwargs["db"] = int(unquote(parsed.path).replace("/", ""))
        except (AttributeError, ValueError):
            pass
    if parsed.scheme == "rediss":
        ssl_class = _connection_class("SSLConnection")
        if ssl_class is not None:
            kwargs["connection_class"] = ssl_class
        else:
            # never silently drop TLS: let the client see (and honour or refuse) it
            kwargs["ssl"] = True
    return kwargs

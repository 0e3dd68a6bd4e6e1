"""Server and connection commands (PING, INFO, CONFIG, CLIENT, ...), as in redis-py."""

from __future__ import annotations

import datetime
from typing import Any, Dict, List, Optional, Tuple, Union

from ..exceptions import DataError
from ._base import CommandMixin
from ._types import EncodableT, KeyT, PatternT

_CLIENT_TYPES = ("normal", "master", "replica", "pubsub")


class ServerCommands(CommandMixin):
    """Commands about the server and the current connection."""

    __slots__ = ()

    def ping(self, **kwargs: Any) -> bool:
        """Ping the server; True when it answers PONG."""
        return self.execute_command("PING", **kwargs)

    def echo(self, value: EncodableT, **kwargs: Any) -> Union[bytes, str]:
        """Return ``value`` echoed by the server."""
        return self.execute_command("ECHO", value, **kwargs)

    def info(self, section: Optional[str] = None, *args: str, **kwargs: Any) -> Dict[str, Any]:
        """Return INFO (all default sections, or ``section`` and ``args``) parsed into a dict."""
        if section is None:
            return self.execute_command("INFO", **kwargs)
        return self.execute_command("INFO", section, *args, **kwargs)

    def time(self, **kwargs: Any) -> Tuple[int, int]:
        """Return the server time as ``(seconds, microseconds)``."""
        return self.execute_command("TIME", **kwargs)

    def lastsave(self, **kwargs: Any) -> datetime.datetime:
        """Return the time of the last successful save to disk as a local datetime."""
        return self.execute_command("LASTSAVE", **kwargs)

    def role(self) -> List[Any]:
        """Return the ROLE reply (master/slave/sentinel and replication details), unparsed."""
        return self.execute_command("ROLE")

    def config_get(self, pattern: PatternT = "*", *args: PatternT, **kwargs: Any) -> Dict[Any, Any]:
        """Return the configuration parameters matching ``pattern`` (and ``args``) as a dict of str."""
        return self.execute_command("CONFIG GET", pattern, *args, **kwargs)

    def config_set(
        self, name: KeyT, value: EncodableT, *args: Union[KeyT, EncodableT], **kwargs: Any
    ) -> bool:
        """Set configuration parameter ``name`` to ``value`` (more name/value pairs in ``args``)."""
        return self.execute_command("CONFIG SET", name, value, *args, **kwargs)

    def client_setname(self, name: str, **kwargs: Any) -> bool:
        """Set the name of the current connection."""
        return self.execute_command("CLIENT SETNAME", name, **kwargs)

    def client_getname(self, **kwargs: Any) -> Optional[str]:
        """Return the name of the current connection (str), or None."""
        return self.execute_command("CLIENT GETNAME", **kwargs)

    def client_id(self, **kwargs: Any) -> int:
        """Return the id of the current connection."""
        return self.execute_command("CLIENT ID", **kwargs)

    def client_info(self, **kwargs: Any) -> Dict[str, Any]:
        """Return information about the current connection as a dict."""
        return self.execute_command("CLIENT INFO", **kwargs)

    def client_list(
        self, _type: Optional[str] = None, client_id: List[EncodableT] = [], **kwargs: Any
    ) -> List[Dict[str, str]]:
        """Return the connected clients as a list of dicts of str.

        ``_type`` filters by "normal", "master", "replica" or "pubsub";
        ``client_id`` (a list) by connection ids.
        """
        args: list = []
        if _type is not None:
            if str(_type).lower() not in _CLIENT_TYPES:
                raise DataError(f"CLIENT LIST _type must be one of {_CLIENT_TYPES!r}")
            args.extend((b"TYPE", _type))
        if not isinstance(client_id, list):
            raise DataError("client_id must be a list")
        if client_id:
            args.append(b"ID")
            args.extend(client_id)
        return self.execute_command("CLIENT LIST", *args, **kwargs)

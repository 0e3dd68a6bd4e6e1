"""Sentinel commands (SENTINEL MASTERS, GET-MASTER-ADDR-BY-NAME, ...), as in redis-py.

``once=True`` asks ``Sentinel.execute_command`` to query only the first
Sentinel; ``return_responses=True`` asks it for the replies instead of a
success flag. A plain client connected to a Sentinel just forwards these
options to the response callback, which ignores them.
"""

from __future__ import annotations

import warnings
from typing import Any, Dict, List, Optional, Tuple, Union

from ._base import CommandMixin


class SentinelCommands(CommandMixin):
    """Commands specific to Redis Sentinel."""

    __slots__ = ()

    def sentinel(self, *args: Any) -> None:
        """Deprecated: use the individual ``sentinel_*`` methods."""
        warnings.warn(DeprecationWarning("Use the individual sentinel_* methods"))

    def sentinel_get_master_addr_by_name(
        self, service_name: str, return_responses: bool = False
    ) -> Union[Optional[Tuple[str, int]], bool, list]:
        """Return the ``(host, port)`` of the master ``service_name`` (None if unknown).

        Through ``Sentinel`` this queries one Sentinel only (``once=True``) and
        returns True/False unless ``return_responses``.
        """
        return self.execute_command(
            "SENTINEL GET-MASTER-ADDR-BY-NAME",
            service_name,
            once=True,
            return_responses=return_responses,
        )

    def sentinel_master(
        self, service_name: str, return_responses: bool = False
    ) -> Union[Dict[str, Any], bool, list]:
        """Return the state dict of the master ``service_name``."""
        return self.execute_command(
            "SENTINEL MASTER", service_name, return_responses=return_responses
        )

    def sentinel_masters(self) -> Dict[str, Dict[str, Any]]:
        """Return ``{name: state dict}`` for every monitored master."""
        return self.execute_command("SENTINEL MASTERS")

    def sentinel_monitor(self, name: str, ip: str, port: int, quorum: int) -> bool:
        """Start monitoring a new master ``name`` at ``ip``:``port`` with ``quorum``."""
        return self.execute_command("SENTINEL MONITOR", name, ip, port, quorum)

    def sentinel_remove(self, name: str) -> bool:
        """Stop monitoring master ``name``."""
        return self.execute_command("SENTINEL REMOVE", name)

    def sentinel_sentinels(
        self, service_name: str, return_responses: bool = False
    ) -> Union[List[Dict[str, Any]], bool, list]:
        """Return the state dicts of the other Sentinels watching ``service_name``."""
        return self.execute_command(
            "SENTINEL SENTINELS", service_name, return_responses=return_responses
        )

    def sentinel_set(self, name: str, option: str, value: Any) -> bool:
        """Set monitoring parameter ``option`` of master ``name`` to ``value``."""
        return self.execute_command("SENTINEL SET", name, option, value)

    def sentinel_slaves(self, service_name: str) -> List[Dict[str, Any]]:
        """Return the state dicts of the replicas of ``service_name``."""
        return self.execute_command("SENTINEL SLAVES", service_name)

    def sentinel_reset(self, pattern: str) -> bool:
        """Reset every master whose name matches the glob ``pattern``."""
        return self.execute_command("SENTINEL RESET", pattern, once=True)

    def sentinel_failover(self, new_master_name: str) -> bool:
        """Force a failover of ``new_master_name`` without asking other Sentinels."""
        return self.execute_command("SENTINEL FAILOVER", new_master_name)

    def sentinel_ckquorum(self, new_master_name: str) -> bool:
        """Check that the Sentinels can reach the quorum to fail over ``new_master_name``."""
        return self.execute_command("SENTINEL CKQUORUM", new_master_name, once=True)

    def sentinel_flushconfig(self) -> bool:
        """Make the Sentinel rewrite its configuration file."""
        return self.execute_command("SENTINEL FLUSHCONFIG")

"""Command mixins (redis-py compatible methods) and ``RESPONSE_CALLBACKS``.

Each mixin method calls ``self.execute_command(*args, **options)`` exactly as
redis-py does; the client then applies ``RESPONSE_CALLBACKS[args[0]]``.
"""

from ._helpers import EMPTY_RESPONSE, NEVER_DECODE, list_or_args
from .callbacks import RESPONSE_CALLBACKS
from .hashes import HashCommands
from .keys import KeyCommands
from .lists import ListCommands
from .parsers import str_if_bytes
from .scripting import Script, ScriptingCommands
from .sentinel import SentinelCommands
from .server import ServerCommands
from .sets import SetCommands
from .sorted_sets import SortedSetCommands
from .strings import StringCommands


class CoreCommands(
    StringCommands,
    KeyCommands,
    HashCommands,
    ListCommands,
    SetCommands,
    SortedSetCommands,
    ServerCommands,
    ScriptingCommands,
):
    """All data-type and server command mixins (not the Sentinel ones)."""

    __slots__ = ()


__all__ = [
    "CoreCommands",
    "EMPTY_RESPONSE",
    "HashCommands",
    "KeyCommands",
    "ListCommands",
    "NEVER_DECODE",
    "RESPONSE_CALLBACKS",
    "Script",
    "ScriptingCommands",
    "SentinelCommands",
    "ServerCommands",
    "SetCommands",
    "SortedSetCommands",
    "StringCommands",
    "list_or_args",
    "str_if_bytes",
]

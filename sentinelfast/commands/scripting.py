"""Lua scripting commands (EVAL, EVALSHA, SCRIPT ...) and ``Script`` objects."""

from __future__ import annotations

import hashlib
from typing import Any, Iterable, List, Optional, Sequence, Union

from ..exceptions import DataError
from ._base import CommandMixin
from ._types import EncodableT, KeyT, ScriptTextT


class Script:
    """A Lua script registered with ``register_script``; call it to run it.

    It runs with EVALSHA and, when the server doesn't know the script yet
    (NoScriptError), loads it with SCRIPT LOAD and retries once.
    """

    def __init__(self, registered_client: Any, script: ScriptTextT) -> None:
        self.registered_client = registered_client
        self.script = script
        encoded: Union[bytes, memoryview] = (
            self.get_encoder().encode(script) if isinstance(script, str) else script)
        self.sha = hashlib.sha1(encoded).hexdigest()

    def __call__(
        self,
        keys: Optional[Sequence[KeyT]] = None,
        args: Optional[Iterable[EncodableT]] = None,
        client: Any = None,
    ) -> Any:
        """Run the script with ``keys`` and ``args`` on ``client`` (default: the registering client)."""
        from ..exceptions import NoScriptError

        keys = keys or []
        args = args or []
        if client is None:
            client = self.registered_client
        arguments = tuple(keys) + tuple(args)
        pipeline_scripts = getattr(client, "scripts", None)
        if isinstance(pipeline_scripts, set):
            # a pipeline loads its registered scripts before executing
            pipeline_scripts.add(self)
        try:
            return client.evalsha(self.sha, len(keys), *arguments)
        except NoScriptError:
            self.sha = client.script_load(self.script)
            return client.evalsha(self.sha, len(keys), *arguments)

    def get_encoder(self) -> Any:
        """The encoder used to turn a str script into bytes (the client's, else UTF-8)."""
        try:
            return self.registered_client.get_encoder()
        except AttributeError:
            pool = getattr(self.registered_client, "connection_pool", None)
            if pool is not None and hasattr(pool, "get_encoder"):
                return pool.get_encoder()
            return _Utf8Encoder()


class _Utf8Encoder:
    def encode(self, value: Union[str, bytes]) -> bytes:
        return value.encode("utf-8") if isinstance(value, str) else value


class ScriptingCommands(CommandMixin):
    """EVAL / EVALSHA / SCRIPT commands."""

    __slots__ = ()

    def eval(self, script: str, numkeys: int, *keys_and_args: Union[KeyT, EncodableT]) -> Any:
        """Run the Lua ``script``; the first ``numkeys`` of ``keys_and_args`` are keys."""
        return self.execute_command("EVAL", script, numkeys, *keys_and_args)

    def eval_ro(
        self, script: str, numkeys: int, *keys_and_args: Union[KeyT, EncodableT]
    ) -> Any:
        """Read-only variant of ``eval``."""
        return self.execute_command("EVAL_RO", script, numkeys, *keys_and_args)

    def evalsha(self, sha: str, numkeys: int, *keys_and_args: Union[KeyT, EncodableT]) -> Any:
        """Run the cached script with SHA1 ``sha``; arguments as ``eval``."""
        return self.execute_command("EVALSHA", sha, numkeys, *keys_and_args)

    def evalsha_ro(
        self, sha: str, numkeys: int, *keys_and_args: Union[KeyT, EncodableT]
    ) -> Any:
        """Read-only variant of ``evalsha``."""
        return self.execute_command("EVALSHA_RO", sha, numkeys, *keys_and_args)

    def script_load(self, script: ScriptTextT) -> str:
        """Load ``script`` into the script cache; return its SHA1 as str."""
        return self.execute_command("SCRIPT LOAD", script)

    def script_exists(self, *args: str) -> List[bool]:
        """Return, for each SHA1 in ``args``, whether the script is cached."""
        return self.execute_command("SCRIPT EXISTS", *args)

    def script_flush(self, sync_type: Optional[str] = None) -> bool:
        """Empty the script cache; ``sync_type`` may be "SYNC", "ASYNC" or None."""
        if sync_type not in ["SYNC", "ASYNC", None]:
            raise DataError(
                "SCRIPT FLUSH defaults to SYNC in redis > 6.2, or "
                "accepts SYNC/ASYNC. For older versions, "
                "of redis leave as None."
            )
        pieces = [] if sync_type is None else [sync_type]
        return self.execute_command("SCRIPT FLUSH", *pieces)

    def script_kill(self) -> bool:
        """Kill the currently running read-only script."""
        return self.execute_command("SCRIPT KILL")

    def register_script(self, script: ScriptTextT) -> Script:
        """Return a callable ``Script`` for ``script`` (see ``Script``)."""
        return Script(self, script)

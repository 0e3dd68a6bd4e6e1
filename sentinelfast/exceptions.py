"""The exception classes of sentinelfast, with the names and hierarchy of ``redis.exceptions``
(and of ``redis.sentinel``: ``MasterNotFoundError``, ``SlaveNotFoundError``).

When redis-py is installed, every class here also subclasses redis-py's class of the same
name, so code written for redis-py (``except redis.exceptions.ConnectionError``,
``except redis.sentinel.MasterNotFoundError``) catches sentinelfast's errors unchanged.
Every exception class of ``redis.exceptions`` has a counterpart here (``tests/
test_exception_classes.py`` walks them). Without redis-py the hierarchy stands on its own.

As in redis-py, ``ConnectionError`` and ``TimeoutError`` do not derive from the built-in
exceptions of the same name.
"""
from __future__ import annotations

try:  # interop: make `except redis.exceptions.X` catch our X
    import redis.exceptions as _redis_exceptions
    import redis.sentinel as _redis_sentinel
except ImportError:  # redis-py is optional
    _redis_exceptions = None  # type: ignore[assignment]
    _redis_sentinel = None  # type: ignore[assignment]


def _bases(name: str, *ours: type, module=None) -> tuple:
    """Our parents, then redis-py's class ``name`` (from ``redis.exceptions``, or
    ``module``) when redis-py has it."""
    theirs = getattr(module or _redis_exceptions, name, None)
    if theirs is None:
        return ours
    # Our own parents first, then redis-py's class; built-in bases (Exception,
    # ValueError) already come through redis-py's class and would break the MRO.
    return tuple(b for b in ours if b.__module__ != "builtins") + (theirs,)


def _redis_py_takes_status_code() -> bool:
    """Whether redis-py's exceptions take ``status_code=`` (redis-py 8 and later)."""
    if _redis_exceptions is None:
        return False
    import inspect

    try:
        parameters = inspect.signature(_redis_exceptions.RedisError.__init__).parameters
    except (TypeError, ValueError):
        return False
    return "status_code" in parameters


_STATUS_CODE_UPSTREAM = _redis_py_takes_status_code()


class RedisError(*_bases("RedisError", Exception)):  # type: ignore[misc]
    """Base class of every error raised by sentinelfast."""

    def __init__(self, *args, status_code: str | None = None):
        if _STATUS_CODE_UPSTREAM:   # redis-py 8 sets its attributes (error_type, ...)
            super().__init__(*args, status_code=status_code)
        else:
            super().__init__(*args)
            self.status_code = status_code


class ConnectionError(*_bases("ConnectionError", RedisError)):  # type: ignore[misc]
    """The server could not be reached, or the connection broke."""


class TimeoutError(*_bases("TimeoutError", RedisError)):  # type: ignore[misc]
    """A socket operation did not finish within its timeout."""


class AuthenticationError(*_bases("AuthenticationError", ConnectionError)):  # type: ignore[misc]
    """The server refused the credentials."""


class AuthorizationError(*_bases("AuthorizationError", ConnectionError)):  # type: ignore[misc]
    """The user is not allowed to connect."""


class BusyLoadingError(*_bases("BusyLoadingError", ConnectionError)):  # type: ignore[misc]
    """The server is loading its dataset into memory."""


class MaxConnectionsError(*_bases("MaxConnectionsError", ConnectionError)):  # type: ignore[misc]
    """The pool reached ``max_connections``."""


class InvalidResponse(*_bases("InvalidResponse", RedisError)):  # type: ignore[misc]
    """The server sent something that is not valid RESP."""


class ResponseError(*_bases("ResponseError", RedisError)):  # type: ignore[misc]
    """The server answered with an error reply."""


class DataError(*_bases("DataError", RedisError)):  # type: ignore[misc]
    """A command argument cannot be sent (wrong type or invalid combination)."""


class PubSubError(*_bases("PubSubError", RedisError)):  # type: ignore[misc]
    """Misuse of the Pub/Sub API."""


class WatchError(*_bases("WatchError", RedisError)):  # type: ignore[misc]
    """A watched key changed before EXEC."""


class NoScriptError(*_bases("NoScriptError", ResponseError)):  # type: ignore[misc]
    """EVALSHA named a script the server does not have."""


class OutOfMemoryError(*_bases("OutOfMemoryError", ResponseError)):  # type: ignore[misc]
    """The server is over its ``maxmemory`` and refused a write."""


class ExecAbortError(*_bases("ExecAbortError", ResponseError)):  # type: ignore[misc]
    """A transaction was discarded because a queued command was invalid."""


class ReadOnlyError(*_bases("ReadOnlyError", ResponseError)):  # type: ignore[misc]
    """A write was sent to a read-only replica."""


class NoPermissionError(*_bases("NoPermissionError", ResponseError)):  # type: ignore[misc]
    """The ACL user may not run this command or touch this key."""


class ModuleError(*_bases("ModuleError", ResponseError)):  # type: ignore[misc]
    """A module could not be loaded or unloaded."""


class NoSuchFieldsetError(*_bases("NoSuchFieldsetError", ResponseError)):  # type: ignore[misc]
    """``ERR no such fieldset`` (HIMPORT SET without its fieldset)."""


class ExternalAuthProviderError(*_bases("ExternalAuthProviderError", ConnectionError)):  # type: ignore[misc]
    """An external authentication provider failed (``ERR problem with LDAP service``)."""


class LockError(*_bases("LockError", RedisError, ValueError)):  # type: ignore[misc]
    """A lock could not be acquired or released."""

    def __init__(self, message: str | None = None, lock_name: str | None = None):
        theirs = getattr(_redis_exceptions, "LockError", None)
        if theirs is not None:
            theirs.__init__(self, message, lock_name)
        else:
            Exception.__init__(self, message)
        self.message = message
        self.lock_name = lock_name
        self.status_code = None


class LockNotOwnedError(*_bases("LockNotOwnedError", LockError)):  # type: ignore[misc]
    """A lock was released or extended by a client that does not own it."""


class ChildDeadlockedError(*_bases("ChildDeadlockedError", Exception)):  # type: ignore[misc]
    """A forked child would deadlock on a lock held by its parent."""


# ---- Sentinel (redis.sentinel's classes)

class MasterNotFoundError(*_bases("MasterNotFoundError", ConnectionError,  # type: ignore[misc]
                                  module=_redis_sentinel)):
    """No Sentinel knows a healthy master for the service.

    A client from ``master_for`` raises it after one round over the Sentinels (each
    asked once, within its socket timeouts) while no Sentinel has ever named a master
    for the service; once one has, failures are retried within the failover budget
    (see :func:`sentinelfast.failover.default_sentinel_retry`)."""


class SlaveNotFoundError(*_bases("SlaveNotFoundError", ConnectionError,  # type: ignore[misc]
                                 module=_redis_sentinel)):
    """Neither a replica nor the master of the service could be reached."""


ReplicaNotFoundError = SlaveNotFoundError


# ---- Cluster (sentinelfast has no cluster client; the classes exist so that code
# written for redis-py that names them imports and catches the same way)

class RedisClusterException(*_bases("RedisClusterException", Exception)):  # type: ignore[misc]
    """Base of the cluster client's own errors."""


class ClusterError(*_bases("ClusterError", RedisError)):  # type: ignore[misc]
    """Cluster errors repeated until the command's attempts ran out."""


class ClusterDownError(*_bases("ClusterDownError", ClusterError, ResponseError)):  # type: ignore[misc]
    """``CLUSTERDOWN``: the cluster does not serve every hash slot."""


class MasterDownError(*_bases("MasterDownError", ClusterDownError)):  # type: ignore[misc]
    """A replica lost its master and does not serve stale data (``MASTERDOWN``)."""


class AskError(*_bases("AskError", ResponseError)):  # type: ignore[misc]
    """``ASK <slot> <host:port>``: the slot is migrating; ask the other node once."""


class MovedError(*_bases("MovedError", AskError)):  # type: ignore[misc]
    """``MOVED <slot> <host:port>``: another node serves the slot."""


class TryAgainError(*_bases("TryAgainError", ResponseError)):  # type: ignore[misc]
    """``TRYAGAIN``: the keys are split between two nodes during resharding."""


class ClusterCrossSlotError(*_bases("ClusterCrossSlotError", ResponseError)):  # type: ignore[misc]
    """``CROSSSLOT``: the keys of one command hash to different slots."""


class SlotNotCoveredError(*_bases("SlotNotCoveredError", RedisClusterException)):  # type: ignore[misc]
    """No known node serves the slot."""


class CrossSlotTransactionError(*_bases("CrossSlotTransactionError",  # type: ignore[misc]
                                        RedisClusterException)):
    """A transaction or WATCH over keys of more than one slot."""


class InvalidPipelineStack(*_bases("InvalidPipelineStack", RedisClusterException)):  # type: ignore[misc]
    """A cluster pipeline got a different number of replies than it sent commands."""


class IncorrectPolicyType(*_bases("IncorrectPolicyType", Exception)):  # type: ignore[misc]
    """A request or response policy name that redis-py does not know."""


__all__ = [
    "RedisError", "ConnectionError", "TimeoutError", "AuthenticationError",
    "AuthorizationError", "BusyLoadingError", "MaxConnectionsError", "InvalidResponse",
    "ResponseError", "DataError", "PubSubError", "WatchError", "NoScriptError",
    "OutOfMemoryError", "ExecAbortError", "ReadOnlyError", "NoPermissionError",
    "ModuleError", "MasterDownError", "NoSuchFieldsetError", "ExternalAuthProviderError",
    "LockError", "LockNotOwnedError", "ChildDeadlockedError",
    "MasterNotFoundError", "SlaveNotFoundError", "ReplicaNotFoundError",
    "RedisClusterException", "ClusterError", "ClusterDownError", "AskError", "MovedError",
    "TryAgainError", "ClusterCrossSlotError", "SlotNotCoveredError",
    "CrossSlotTransactionError", "InvalidPipelineStack", "IncorrectPolicyType",
]


class AuthenticationWrongNumberOfArgsError(*_bases("AuthenticationWrongNumberOfArgsError", ResponseError)):  # type: ignore[misc]
    """AUTH was sent with the wrong number of arguments (a server without ACL users)."""


__all__.append("AuthenticationWrongNumberOfArgsError")

_ERR_MESSAGES: "dict[str, type[RedisError]]" = {
    "max number of clients reached": ConnectionError,
    "invalid password": AuthenticationError,
    "wrong number of arguments for 'auth' command": AuthenticationWrongNumberOfArgsError,
    "wrong number of arguments for 'AUTH' command": AuthenticationWrongNumberOfArgsError,
    "Error loading the extension. Please check the server logs.": ModuleError,
    "Error unloading module: no such module with that name": ModuleError,
    "Error unloading module: operation not possible.": ModuleError,
    "Error unloading module: the module exports one or more module-side data types, "
    "can't unload": ModuleError,
    "AUTH <password> called without any password configured for the default user. "
    "Are you sure your configuration is correct?": AuthenticationError,
    "Client sent AUTH, but no password is set": AuthenticationError,
    "problem with LDAP service": ExternalAuthProviderError,
    "no such fieldset": NoSuchFieldsetError,
}

_ERROR_CODES: "dict[str, type[RedisError]]" = {
    "OOM": OutOfMemoryError,
    "WRONGPASS": AuthenticationError,
    "EXECABORT": ExecAbortError,
    "LOADING": BusyLoadingError,
    "NOSCRIPT": NoScriptError,
    "READONLY": ReadOnlyError,
    "NOAUTH": AuthenticationError,
    "NOPERM": NoPermissionError,
    "MASTERDOWN": MasterDownError,
}


def error_from_reply(text: str) -> RedisError:
    """Build the exception redis-py raises for the error reply ``text``.

    The first word is the error code. For the codes redis-py knows, the code is cut
    from the message and selects the class; any other reply is a ResponseError
    carrying the full text (``"WRONGTYPE Operation against a key ..."``).
    The C core calls this for every error reply.
    """
    code = text.split(" ", 1)[0]
    if code == "ERR":
        message = text[4:]
        return _ERR_MESSAGES.get(message, ResponseError)(message, status_code=code)
    cls = _ERROR_CODES.get(code)
    if cls is None:
        return ResponseError(text)
    return cls(text[len(code) + 1:], status_code=code)

"""Every exception class of redis-py has a sentinelfast counterpart that redis-py code catches.

Walks ``redis.exceptions`` and ``redis.sentinel``: for each exception class there is a class of
the same name in ``sentinelfast.exceptions`` that subclasses it, the parent/child relations
between redis-py's classes hold between ours too, and an instance carries what redis-py's does.
"""

import inspect
import socket

import pytest
import redis
import redis.exceptions
import redis.sentinel
from sfimpl import IMPL

pytestmark = pytest.mark.skipif(IMPL != "sentinelfast", reason="sentinelfast's classes against redis-py's")

if IMPL == "sentinelfast":
    import sentinelfast
    import sentinelfast.exceptions as sfexc
    import sentinelfast.sentinel


def _exception_classes(module):
    return {
        name: cls
        for name, cls in vars(module).items()
        if inspect.isclass(cls) and issubclass(cls, BaseException) and cls.__module__ == module.__name__
    }


REDIS_EXCEPTIONS = _exception_classes(redis.exceptions)
# ReplicaNotFoundError: an alias redis-py added after 5.0
REDIS_SENTINEL_EXCEPTIONS = {name: getattr(redis.sentinel, name) for name in
                             ("MasterNotFoundError", "SlaveNotFoundError", "ReplicaNotFoundError")
                             if hasattr(redis.sentinel, name)}
ALL = {**REDIS_EXCEPTIONS, **REDIS_SENTINEL_EXCEPTIONS}


def test_the_walk_found_redis_py_classes():
    # guard against a walk that silently finds nothing
    assert {"RedisError", "ConnectionError", "LockNotOwnedError", "NoScriptError",
            "ChildDeadlockedError", "MovedError"} <= set(REDIS_EXCEPTIONS)


@pytest.mark.parametrize("name", sorted(ALL))
def test_every_redis_py_class_has_a_subclass_of_the_same_name(name):
    ours = getattr(sfexc, name, None)
    assert ours is not None, f"sentinelfast.exceptions.{name} is missing"
    assert issubclass(ours, ALL[name])
    assert name in sfexc.__all__


@pytest.mark.parametrize("name", sorted(ALL))
def test_the_hierarchy_is_redis_pys(name):
    """If redis-py's X derives from redis-py's Y, our X derives from our Y (so that
    `except sentinelfast.exceptions.Y` catches our X as `except redis...Y` does)."""
    ours = getattr(sfexc, name)
    for parent_name, theirs_parent in ALL.items():
        if issubclass(ALL[name], theirs_parent):
            assert issubclass(ours, getattr(sfexc, parent_name)), f"{name} is not a {parent_name}"


@pytest.mark.parametrize("name", ["ConnectionError", "TimeoutError"])
def test_no_builtin_of_the_same_name_is_a_base(name):
    import builtins

    assert not issubclass(getattr(sfexc, name), getattr(builtins, name))


def test_sentinel_module_and_package_export_the_same_classes():
    for name in REDIS_SENTINEL_EXCEPTIONS:
        assert getattr(sentinelfast.sentinel, name) is getattr(sfexc, name)
        assert getattr(sentinelfast, name) is getattr(sfexc, name)
    assert sfexc.ReplicaNotFoundError is sfexc.SlaveNotFoundError


@pytest.mark.parametrize("name", sorted(ALL))
def test_instances_carry_redis_pys_attributes(name):
    theirs_cls, ours_cls = ALL[name], getattr(sfexc, name)
    message = "3999 127.0.0.1:6381" if name in ("AskError", "MovedError") else "boom"
    theirs, ours = theirs_cls(message), ours_cls(message)
    assert ours.args == theirs.args
    assert str(ours) == str(theirs)
    for attribute in ("error_type", "status_code", "message", "lock_name", "slot_id", "node_addr"):
        if hasattr(theirs, attribute):
            assert getattr(ours, attribute) == getattr(theirs, attribute), attribute


def test_except_redis_sentinel_master_not_found_catches_ours():
    """The issue's case: an application's `except redis.sentinel.MasterNotFoundError`."""
    with socket.socket() as s:       # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sentinel = sentinelfast.Sentinel([("127.0.0.1", port)], socket_timeout=1)
    try:
        with pytest.raises(redis.sentinel.MasterNotFoundError) as info:
            sentinel.discover_master("mymaster")
        assert isinstance(info.value, redis.exceptions.ConnectionError)
        assert isinstance(info.value, sentinelfast.MasterNotFoundError)
        with pytest.raises(redis.sentinel.SlaveNotFoundError):
            sentinel.slave_for("mymaster", retry=sentinelfast.Retry(
                sentinelfast.backoff.NoBackoff(), 0)).get("k")
    finally:
        sentinel.close()


def test_error_replies_map_to_classes_redis_py_catches():
    cases = {
        "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.":
            redis.exceptions.MasterDownError,
        "NOSCRIPT No matching script.": redis.exceptions.NoScriptError,
        "NOPERM this user has no permissions": redis.exceptions.NoPermissionError,
        "ERR Error loading the extension. Please check the server logs.": redis.exceptions.ModuleError,
    }
    for text, theirs in cases.items():
        error = sfexc.error_from_reply(text)
        assert isinstance(error, theirs), text
        assert isinstance(error, getattr(sfexc, theirs.__name__)), text

"""Running a coroutine on a new event loop, the same on every supported Python.

``asyncio.Runner`` (Python 3.11+) takes a ``loop_factory`` (uvloop's loop in the tests);
Python 3.10 has no Runner, so there the same steps are done by hand: a new loop from the
factory, run, finish async generators, close.
"""
import asyncio


def run_on_new_loop(coro, factory=None):
    """Run ``coro`` to completion on a new loop made by ``factory`` (asyncio's default
    loop when None) and close the loop; returns the coroutine's result."""
    if hasattr(asyncio, "Runner"):
        with asyncio.Runner(loop_factory=factory) as runner:
            return runner.run(coro)
    loop = (factory or asyncio.new_event_loop)()
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(coro)
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()

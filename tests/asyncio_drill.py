"""Writer tasks for the asyncio failover drills (planned failover, SIGKILL/SIGSTOP, TLS,
install(), after fork): ``count`` tasks each RPUSH ``<prefix><i> <n>`` (n = 1, 2, ...)
through one client until stopped, recording every acknowledged write with its time and every
exception that reached them (a task stops at its first one: what the application would see).
Reading back goes through a topology node's admin helper (``node.command``), which speaks
TLS and AUTH when the topology uses them.
"""
import asyncio
import time


class WriterTasks:
    def __init__(self, client, count, pause=0.005, prefix="w:"):
        self.client = client
        self.prefix = prefix
        self.pause = pause
        self.acked = {i: [] for i in range(count)}     # i -> [(n, time.monotonic())]
        self.errors = []
        self._stop = asyncio.Event()
        self._tasks = []

    def start(self):
        self._tasks = [asyncio.create_task(self._write(i)) for i in self.acked]
        return self

    async def _write(self, i):
        n = 0
        while not self._stop.is_set():
            n += 1
            try:
                await self.client.rpush(f"{self.prefix}{i}", n)
            except Exception as exc:    # what the application would see
                self.errors.append(repr(exc))
                return
            self.acked[i].append((n, time.monotonic()))
            await asyncio.sleep(self.pause)

    async def stop(self):
        self._stop.set()
        await asyncio.gather(*self._tasks)

    def total(self):
        """How many writes were acknowledged."""
        return sum(len(writes) for writes in self.acked.values())

    def missing_on(self, node, since=None):
        """The acknowledged writes (at or after ``since``, a time.monotonic(), if given) that
        ``node`` (a topology node) does not hold, as (i, n, time)."""
        missing = []
        for i, writes in self.acked.items():
            stored = {int(x) for x in node.command("LRANGE", f"{self.prefix}{i}", "0", "-1",
                                                   timeout=5)}
            missing += [(i, n, t) for n, t in writes
                        if n not in stored and (since is None or t >= since)]
        return missing

    def longest_pause(self):
        """The longest time between two acknowledged writes of one task."""
        pauses = [b[1] - a[1] for writes in self.acked.values()
                  for a, b in zip(writes, writes[1:])]
        return max(pauses, default=0.0)

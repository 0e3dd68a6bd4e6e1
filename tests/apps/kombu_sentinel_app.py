"""A kombu application on Redis Sentinel, as Celery runs one, switched to sentinelfast.

Run as a program (tests/test_kombu_sentinel.py starts it with the virtualenv's python)::

    python kombu_sentinel_app.py '<json settings>'

Settings: ``sentinels`` ([[host, port], ...]), ``master_name``, ``sentinel_kwargs`` (dict),
``ssl`` (kombu's ``Connection(ssl=...)`` dict, or null), ``interval`` (seconds between two
publications), ``drain_timeout`` (seconds to wait for the last messages after the stop);
optional: ``consume_delay`` (seconds of work for each queue message: a worker that runs
behind the producer).

What it does, as an application would: ``sentinelfast.install()`` first thing, before kombu
is imported (kombu binds redis.sentinel's connection class when it is imported); then one
``kombu.Connection("sentinel://h:p;sentinel://h:p;...")`` for a producer thread and one for
the consumer (the main thread). The producer publishes numbered messages to a queue (a Redis
list) and to a fanout exchange (Redis Pub/Sub) with ``retry=True`` and Celery's default retry
policy, as ``apply_async`` does; the consumer drains both with ``drain_events`` and acks each
message, as Celery's worker does, and on a connection error kombu lists as recoverable it
connects again and consumes on (what the worker does when the broker connection is lost).

Output, one JSON object a line on stdout:
``{"event": "flowing"}`` once messages go round; ``{"event": "progress"}`` every 0.25 s
with when the last queue and fanout messages received were sent; then, after "stop" (or
end of file) on stdin, ``{"event": "result", ...}`` with what was published, consumed,
retried and raised. Times are ``time.time()``.
"""
import sentinelfast

sentinelfast.install()   # first thing: before kombu (or celery) is imported

import base64  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

import kombu  # noqa: E402
import redis.sentinel  # noqa: E402


def log_channel_close():
    """Diagnostics for a failure's report: kombu's channel close reads a BRPOP reply still
    in flight (``_in_poll``) and hands it back to the queue; log what it found."""
    from kombu.transport import redis as kombu_redis
    close, brpop_read = kombu_redis.Channel.close, kombu_redis.Channel._brpop_read
    log = logging.getLogger("app.kombu")

    def traced_close(self):
        log.info("channel close: BRPOP in flight: %r", self._in_poll)
        return close(self)

    def traced_brpop_read(self, **options):
        closing = getattr(self, "_closing", False)
        try:
            result = brpop_read(self, **options)
        except Exception as e:
            if closing:
                log.info("channel close: reading the BRPOP in flight raised %r", e)
            raise
        if closing:
            log.info("channel close: read the BRPOP in flight: %r", result)
        return result

    kombu_redis.Channel.close = traced_close
    kombu_redis.Channel._brpop_read = traced_brpop_read


# Queue messages kombu itself dropped: [n, time.time()]. When the consumer connects again
# (Celery's worker: consumers cancelled, then the connection released), kombu's channel
# close reads the BRPOP reply still in flight and hands the message to
# Transport._reject_inbound_message to be put back; but close_connection has already
# taken every channel off the transport's list, so there is none to put it back with and
# the message is silently gone (kombu 5.x; redis-py or sentinelfast underneath alike).
DROPPED_BY_KOMBU = []


def record_kombu_drops():
    from kombu.transport.virtual import base
    reject = base.Transport._reject_inbound_message
    log = logging.getLogger("app.kombu")

    def traced_reject(self, raw_message):
        if not any(self.channels):
            try:
                body = raw_message["body"]
                if raw_message.get("properties", {}).get("body_encoding") == "base64":
                    body = base64.b64decode(body)
                n = json.loads(body)["n"]
            except (KeyError, TypeError, ValueError):
                n = None
            DROPPED_BY_KOMBU.append([n, time.time()])
            log.warning("kombu drops message %r: no open channel to put it back with", n)
        return reject(self, raw_message)

    base.Transport._reject_inbound_message = traced_reject


EXCHANGE = kombu.Exchange("drill.direct", type="direct")
FANOUT = kombu.Exchange("drill.fanout", type="fanout")
QUEUE = kombu.Queue("drill.queue", exchange=EXCHANGE, routing_key="drill")
FANOUT_QUEUE = kombu.Queue("drill.fanout.q", exchange=FANOUT)
# Celery's default task_publish_retry_policy
RETRY_POLICY = {"max_retries": 3, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}


def emit(record):
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


def qualname(obj):
    cls = obj if isinstance(obj, type) else type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def connect(settings):
    url = ";".join(f"sentinel://{host}:{port}" for host, port in settings["sentinels"])
    options = {"master_name": settings["master_name"]}
    if settings.get("sentinel_kwargs"):
        options["sentinel_kwargs"] = settings["sentinel_kwargs"]
    return kombu.Connection(url, ssl=settings.get("ssl") or False, transport_options=options)


class Producer(threading.Thread):
    """Publishes message n to the queue and to the fanout exchange, n = 0, 1, 2..."""

    def __init__(self, settings):
        super().__init__(daemon=True)
        self.settings = settings
        self.halt = threading.Event()
        self.published = {"queue": [], "fanout": []}   # [n, time.time() acknowledged]
        self.retried = []      # [kind, n, error] for each retry kombu made
        self.failed = []       # [kind, n, error]: the publication raised (after kombu's retries)

    def run(self):
        with connect(self.settings) as conn:
            producer = conn.Producer(serializer="json")
            n = 0
            while not self.halt.is_set():
                for kind, exchange, routing_key, declare in (
                        ("queue", EXCHANGE, "drill", [QUEUE]),
                        ("fanout", FANOUT, "", [FANOUT])):
                    def errback(exc, interval, kind=kind, n=n):
                        self.retried.append([kind, n, repr(exc)])
                    try:
                        producer.publish({"n": n, "sent": time.time()}, exchange=exchange, routing_key=routing_key,
                                         declare=declare, retry=True, retry_policy=dict(
                                             RETRY_POLICY, errback=errback))
                        self.published[kind].append([n, time.time()])
                    except Exception as e:  # reaches the application (Celery: apply_async raises)
                        self.failed.append([kind, n, repr(e)])
                n += 1
                time.sleep(self.settings["interval"])


class Consumer:
    """Drains the queue and the fanout queue as Celery's worker does."""

    def __init__(self, settings):
        self.settings = settings
        self.received = {"queue": [], "fanout": []}    # [n, time.time() received]
        self.last_sent = {"queue": 0.0, "fanout": 0.0}  # when the last one received was sent
        self.recovered = []    # [time.time(), error]: recoverable, reconnected and went on
        self.fatal = None      # an exception kombu would not have recovered from
        self.conn = None
        self.types = {}

    def on_message(self, kind):
        delay = self.settings.get("consume_delay", 0) if kind == "queue" else 0

        def callback(body, message):
            if delay:
                time.sleep(delay)          # the task's work
            self.received[kind].append([body["n"], time.time()])
            self.last_sent[kind] = max(self.last_sent[kind], body["sent"])
            message.ack()
        return callback

    def start(self):
        self.conn = connect(self.settings)
        self.conn.ensure_connection(max_retries=10, interval_start=0.2, interval_step=0.2,
                                    interval_max=1)
        channel = self.conn.channel()
        self.consumers = [
            kombu.Consumer(channel, [QUEUE], callbacks=[self.on_message("queue")],
                           accept=["json"]),
            kombu.Consumer(channel, [FANOUT_QUEUE], callbacks=[self.on_message("fanout")],
                           accept=["json"]),
        ]
        for consumer in self.consumers:
            consumer.consume()
        self.channel = channel

    def stop(self):
        for consumer in getattr(self, "consumers", ()):
            try:
                consumer.cancel()
            except Exception:
                pass
        if self.conn is not None:
            self.conn.release()
            self.conn = None

    def drain_once(self, timeout):
        """One drain_events; False once a non-recoverable error ended consuming."""
        if self.fatal is not None:
            return False
        try:
            self.conn.drain_events(timeout=timeout)
        except socket.timeout:
            pass
        except self.conn.recoverable_connection_errors + self.conn.connection_errors as e:
            # Celery's worker: "Connection to broker lost. Trying to re-establish..."
            self.recovered.append([time.time(), repr(e)])
            logging.getLogger("app").warning("consumer: connection to broker lost (%r); "
                                             "connecting again", e, exc_info=True)
            self.stop()
            self.start()
        except Exception as e:  # reaches the application: the worker would crash
            self.fatal = repr(e)
            return False
        return True

    def describe(self):
        """Which classes kombu built (sentinelfast's or redis-py's)."""
        channel = self.channel
        pool = channel.async_pool
        manager = getattr(channel, "_async_sentinel_manager", None)
        connection = channel.client.connection
        address = [connection.host, connection.port] if connection.is_connected else None
        return {
            "redis.sentinel.Sentinel": qualname(redis.sentinel.Sentinel),
            "sentinel": qualname(manager) if manager is not None else None,
            "pool": qualname(pool),
            "pool_connection_class": [qualname(c) for c in pool.connection_class.__mro__],
            "connection": [qualname(c) for c in type(connection).__mro__],
            "subclient_connection": [qualname(c) for c in
                                     type(channel.subclient.connection).__mro__],
            "master_address": list(pool.master_address or ()),
            "connection_address": address,
            "tls": bool(getattr(connection, "tls", None)),
        }


def main():
    settings = json.loads(sys.argv[1])
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(created).3f %(name)s %(levelname)s %(message)s")
    log_channel_close()
    record_kombu_drops()
    stop = threading.Event()

    def wait_for_stop():
        for line in sys.stdin:
            if line.strip() == "stop":
                break
        stop.set()

    threading.Thread(target=wait_for_stop, daemon=True).start()

    consumer = Consumer(settings)
    consumer.start()
    # kombu subscribes to the fanout exchange in its first drain (Pub/Sub keeps nothing
    # published before): publish once it has
    consumer.drain_once(0.2)
    producer = Producer(settings)
    producer.start()
    started = time.time()
    flowing = False
    next_progress = 0.0
    while not stop.is_set() and consumer.drain_once(0.2):
        if not flowing and len(consumer.received["queue"]) >= 50 \
                and len(consumer.received["fanout"]) >= 50:
            flowing = True
            logging.getLogger("app").info("flowing: %d queue and %d fanout messages received",
                                          len(consumer.received["queue"]),
                                          len(consumer.received["fanout"]))
            emit({"event": "flowing", "after_s": round(time.time() - started, 3),
                  "types": consumer.describe()})
        if flowing and time.time() >= next_progress:
            next_progress = time.time() + 0.25
            emit({"event": "progress", "last_sent": consumer.last_sent})
    producer.halt.set()
    producer.join(60)
    # the last messages in flight
    want = {n for n, _ in producer.published["queue"]}
    deadline = time.time() + settings["drain_timeout"]
    while time.time() < deadline and consumer.fatal is None:
        got = {n for n, _ in consumer.received["queue"]}
        if want <= got:
            break
        consumer.drain_once(0.2)
    quiet_until = time.time() + 0.5          # fanout stragglers
    while time.time() < quiet_until and consumer.drain_once(0.1):
        pass
    types = consumer.describe() if consumer.conn is not None else None
    consumer.stop()
    emit({
        "event": "result",
        "producer_alive": producer.is_alive(),
        "published": producer.published,
        "retried": producer.retried,
        "failed": producer.failed,
        "received": consumer.received,
        "recovered": consumer.recovered,
        "fatal": consumer.fatal,
        "dropped_by_kombu": DROPPED_BY_KOMBU,
        "types": types,
    })


if __name__ == "__main__":
    main()

"""A small inventory application written against redis-py's Sentinel API.

``run(Sentinel, sentinel_addresses, service_name, namespace)`` takes the Sentinel CLASS as a
parameter (``redis.sentinel.Sentinel`` or ``sentinelfast.Sentinel``) and returns a plain result
structure; tests/test_dropin.py runs it with both and requires identical results.
"""


def run(Sentinel, sentinel_addresses, service_name, namespace="inv"):
    ns = namespace
    sentinel = Sentinel(sentinel_addresses, socket_timeout=2.0)
    master = sentinel.master_for(service_name, socket_timeout=2.0)
    replica = sentinel.slave_for(service_name, socket_timeout=2.0)
    text_master = sentinel.master_for(service_name, socket_timeout=2.0, decode_responses=True)
    out = {}

    # start from a clean slate
    stale = list(master.scan_iter(match=f"{ns}:*", count=500))
    if stale:
        master.delete(*stale)

    # products: hashes
    products = {
        "apple": {"name": "Apple", "price": "0.50", "stock": 120},
        "pear": {"name": "Pear", "price": "0.75", "stock": 40},
        "plum": {"name": "Plum ✓", "price": "1.20", "stock": 0},
    }
    out["hset"] = [master.hset(f"{ns}:product:{sku}", mapping=fields) for sku, fields in products.items()]
    out["hgetall"] = master.hgetall(f"{ns}:product:apple")
    out["hmget"] = master.hmget(f"{ns}:product:pear", ["name", "price", "missing"])
    out["hincrby"] = master.hincrby(f"{ns}:product:pear", "stock", -5)
    out["hkeys"] = sorted(master.hkeys(f"{ns}:product:plum"))
    out["decoded"] = text_master.hgetall(f"{ns}:product:plum")

    # counters and strings
    out["set"] = master.set(f"{ns}:store:name", "Corner shop", nx=True)
    out["set_again"] = master.set(f"{ns}:store:name", "Other", nx=True)
    out["incr"] = [master.incr(f"{ns}:orders") for _ in range(3)]
    out["incrbyfloat"] = master.incrbyfloat(f"{ns}:revenue", 12.5)
    out["mset"] = master.mset({f"{ns}:flag:a": 1, f"{ns}:flag:b": "yes"})
    out["mget"] = master.mget([f"{ns}:flag:a", f"{ns}:flag:b", f"{ns}:flag:c"])
    out["expire"] = master.expire(f"{ns}:flag:a", 3600)
    out["ttl_ok"] = 0 < master.ttl(f"{ns}:flag:a") <= 3600

    # order queue: lists
    out["rpush"] = master.rpush(f"{ns}:queue", "order-1", "order-2", "order-3")
    out["lpop"] = master.lpop(f"{ns}:queue")
    out["lrange"] = master.lrange(f"{ns}:queue", 0, -1)
    out["blpop"] = master.blpop([f"{ns}:queue"], timeout=1)

    # best sellers: sorted set
    out["zadd"] = master.zadd(f"{ns}:sales", {"apple": 30, "pear": 12, "plum": 7})
    out["zincrby"] = master.zincrby(f"{ns}:sales", 5, "pear")
    out["zrange"] = master.zrange(f"{ns}:sales", 0, -1, desc=True, withscores=True)
    out["zrangebyscore"] = master.zrangebyscore(f"{ns}:sales", 10, 100)
    out["sadd"] = master.sadd(f"{ns}:categories", "fruit", "fresh", "fruit")
    out["smembers"] = master.smembers(f"{ns}:categories")

    # a checkout: one MULTI/EXEC transaction, and a plain pipeline
    with master.pipeline(transaction=True) as pipe:
        pipe.hincrby(f"{ns}:product:apple", "stock", -2)
        pipe.incr(f"{ns}:orders")
        pipe.zincrby(f"{ns}:sales", 2, "apple")
        pipe.rpush(f"{ns}:log", "checkout apple x2")
        out["transaction"] = pipe.execute()
    with master.pipeline(transaction=False) as pipe:
        for sku in products:
            pipe.hget(f"{ns}:product:{sku}", "stock")
        pipe.lpush(f"{ns}:store:name", "oops")  # WRONGTYPE inside a pipeline
        result = pipe.execute(raise_on_error=False)
        out["pipeline"] = [r if not isinstance(r, Exception) else (type(r).__name__, str(r)) for r in result]
    try:
        master.lpush(f"{ns}:store:name", "oops")
    except Exception as e:  # the app reports errors by class name and text
        out["error"] = (type(e).__name__, str(e))

    # read back from a replica once replication caught up
    master.execute_command("WAIT", 2, 2000)
    out["replica_get"] = replica.get(f"{ns}:store:name")
    out["replica_hgetall"] = replica.hgetall(f"{ns}:product:apple")
    out["replica_zrange"] = replica.zrange(f"{ns}:sales", 0, 1, withscores=True)
    out["replica_readonly"] = None
    try:
        replica.set(f"{ns}:x", 1)
    except Exception as e:
        out["replica_readonly"] = type(e).__name__

    out["discover_master"] = sentinel.discover_master(service_name)
    out["num_replicas"] = len(sentinel.discover_slaves(service_name))
    out["keys"] = sorted(master.scan_iter(match=f"{ns}:*"))
    out["deleted"] = master.delete(*out["keys"])
    if hasattr(sentinel, "close"):   # Sentinel.close(): redis-py 8.1 and later
        sentinel.close()
    master.close()
    replica.close()
    text_master.close()
    return out

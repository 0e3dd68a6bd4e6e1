"""Operator tools behind the ``sentinelfast`` command (:mod:`sentinelfast.cli`).

* :mod:`~sentinelfast.ops.topology_spec` — a described deployment (nodes, Sentinels, zones,
  quorum, credentials, TLS), read from JSON/YAML and checked;
* :mod:`~sentinelfast.ops.redis_conf` — redis.conf / sentinel.conf from the templates in
  ``templates/`` (shared with the Ansible role in ``deploy/ansible``);
* :mod:`~sentinelfast.ops.conf_lint` — the configuration file linter;
* :mod:`~sentinelfast.ops.redis_directives` — the directives Redis knows, derived from
  ``redis-server``;
* :mod:`~sentinelfast.ops.check` — ``sentinelfast check``: a live deployment read through
  sentinelfast clients and judged point by point.
* :mod:`~sentinelfast.ops.drill` — failover drills (writer, reader, Sentinel events, faults,
  the four verifications), shared by ``sentinelfast drill``, the demo and the benchmark.

These modules use the standard library only (and PyYAML for YAML input); ``check`` and
``drill`` drive sentinelfast's own client, and ``drill`` draws with matplotlib when it is
installed.
"""

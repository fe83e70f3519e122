"""Real systems that record traces for ``modelcheck trace`` (see docs/examples.md).

* ``examples.twopc``: two-phase commit, a coordinator and N participants;
* ``examples.kvstore``: a primary-backup replicated key-value store with failover.

Every process is a separate OS process; they talk JSON over TCP on 127.0.0.1 only, and
each writes trace events with ``checker.trace.recorder``.
"""

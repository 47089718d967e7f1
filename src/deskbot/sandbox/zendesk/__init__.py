"""A local Zendesk Support API (the subset deskbot uses) with seeded data, rate limits and
injectable faults: for ``deskbot sandbox zendesk``, the demo, integration tests and benchmarks.

>>> sb = ZendeskSandbox(seed=7, tickets=2000, time_scale=60)
>>> base_url = sb.start()      # "http://127.0.0.1:PORT"; auth: f"{sb.email}/token", sb.token
>>> sb.advance(minutes=60)     # new tickets, replies, solves, ratings, flips, deletions
>>> sb.faults.inject(fail_next=2, status=503, path_prefix="/api/v2/incremental")
>>> sb.counters, sb.writes, sb.state
>>> sb.stop()
"""

from deskbot.sandbox.zendesk.data import State
from deskbot.sandbox.zendesk.faults import Faults
from deskbot.sandbox.zendesk.ratelimit import FixedWindowLimiter
from deskbot.sandbox.zendesk.server import ZendeskSandbox

__all__ = ["Faults", "FixedWindowLimiter", "State", "ZendeskSandbox"]

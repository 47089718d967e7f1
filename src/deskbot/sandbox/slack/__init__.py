"""A local Slack for deskbot's demo and tests.

Web API server, recorder, transcripts and user simulator:

sb = SlackSandbox(out_dir=Path("demo-out"), seed=1, clock=FakeClock())
client = WebClient(token=sb.bot_token, base_url=sb.start())
...
status, body = sb.send_slash_command(app_url, text="stats 7d", user_id="maya.okafor")
sb.messages("#support-leads"), sb.files, sb.calls, sb.rejections
sb.transcript_path("#support-leads")
sb.stop()
"""

from deskbot.sandbox.slack.blockkit import render_blocks, validate_blocks, validate_view
from deskbot.sandbox.slack.server import SlackSandbox
from deskbot.sandbox.slack.simulator import Delivery, sign
from deskbot.sandbox.slack.state import ApiCall, ChannelRateLimiter, Rejection

__all__ = [
    "ApiCall",
    "ChannelRateLimiter",
    "Delivery",
    "Rejection",
    "SlackSandbox",
    "render_blocks",
    "sign",
    "validate_blocks",
    "validate_view",
]

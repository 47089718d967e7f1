"""deskbot: automation bot and sync daemon for support teams on Zendesk and Slack."""

__version__ = "0.1.0"

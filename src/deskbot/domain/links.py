"""Links people click: one helper per kind, so alerts, digests, ``/deskbot`` answers and QA
tasks all point at the same place."""

from __future__ import annotations


def ticket_url(api_root: str, ticket_id: int | None) -> str | None:
    """The agent-facing link to a ticket under the account's root (``zendesk.api_root``: the
    configured ``base_url`` or ``https://{subdomain}.zendesk.com``)."""
    if ticket_id is None:
        return None
    return f"{api_root.rstrip('/')}/agent/tickets/{ticket_id}"

"""Agent and group names from the local copy of Zendesk (``services.providers.Directory``).

The Slack app resolves ``/deskbot stats @grace`` or ``stats billing`` against these; each
agent's Slack user comes from the people directory (``people`` table; ``/deskbot me`` finds the
caller this way); the app lays the YAML roster over it (the roster wins).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import col, select

from deskbot.adapters.db.store import Database
from deskbot.adapters.db.tables import Group, PersonRow, User
from deskbot.domain.commands import AgentRef, GroupRef

AGENT_ROLES = ("agent", "admin")  # Zendesk roles that can be assigned tickets


class StoreDirectory:
    def __init__(self, database: Database) -> None:
        self._db = database

    def agents(self) -> Sequence[AgentRef]:
        """Active, unsuspended Zendesk agents and admins that have a name, by name."""
        query = (
            select(User.id, User.name, PersonRow.slack_user_id)
            .join(PersonRow, col(PersonRow.zendesk_user_id) == col(User.id), isouter=True)
            .where(col(User.role).in_(AGENT_ROLES))
            .where(col(User.active).is_(True))
            .where(col(User.suspended).is_(False))
            .where(col(User.name).is_not(None))
            .order_by(col(User.name), col(User.id))
        )
        with self._db.session() as session:
            return [
                AgentRef(int(uid), str(name), slack) for uid, name, slack in session.exec(query)
            ]

    def groups(self) -> Sequence[GroupRef]:
        """Groups that are not deleted, by name."""
        query = (
            select(Group.id, Group.name)
            .where(col(Group.deleted).is_(False))
            .order_by(col(Group.name), col(Group.id))
        )
        with self._db.session() as session:
            return [GroupRef(int(gid), str(name)) for gid, name in session.exec(query)]

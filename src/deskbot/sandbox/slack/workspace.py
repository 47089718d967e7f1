"""The sandbox workspace: a seeded team with people, channels and user groups.

Objects are kept in Slack's own JSON shapes (``users.info``'s ``user``, ``conversations.info``'s
``channel``), so the API handlers can return them as they are. The same seed gives the same ids.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, field
from typing import Any

_ID_CHARS = string.ascii_uppercase + string.digits

# name, real name, title, timezone, department; None marks a field the person never filled in.
_PEOPLE: list[tuple[str, str | None, str, str | None, str]] = [
    ("maya.okafor", "Maya Okafor", "Head of Support", "Europe/London", "support"),
    ("lucas.ferreira", "Lucas Ferreira", "Support Team Lead", "America/Sao_Paulo", "support"),
    ("aiko.tanaka", "Aiko Tanaka", "Support Team Lead", "Asia/Tokyo", "support"),
    ("sam.reyes", "Sam Reyes", "Support Agent", "America/Chicago", "support"),
    ("priya.nair", "Priya Nair", "Support Agent", "Asia/Kolkata", "support"),
    ("jonas.becker", "Jonas Becker", "Support Agent", "Europe/Berlin", "support"),
    ("chloe.martin", "Chloé Martin", "Support Agent", "Europe/Paris", "support"),
    ("tom", None, "", None, "support"),
    ("noah.kim", "Noah Kim", "QA Specialist", "America/Los_Angeles", "support"),
    ("elena.petrova", "Elena Petrova", "Billing Specialist", "Europe/Sofia", "billing"),
    ("omar.haddad", "Omar Haddad", "Billing Lead", "Asia/Dubai", "billing"),
    ("grace.liu", "Grace Liu", "Software Engineer", "America/New_York", "engineering"),
    ("dev.patel", "Dev Patel", "Engineering Manager", "Europe/London", "engineering"),
    ("ines.garcia", "Inés García", "Account Executive", "Europe/Madrid", "sales"),
    ("ben.walker", "Ben Walker", "Sales Lead", "Australia/Sydney", "sales"),
]

_TZ_OFFSETS = {
    "Europe/London": (0, "Greenwich Mean Time"),
    "America/Sao_Paulo": (-10800, "Brasilia Standard Time"),
    "Asia/Tokyo": (32400, "Japan Standard Time"),
    "America/Chicago": (-21600, "Central Standard Time"),
    "Asia/Kolkata": (19800, "India Standard Time"),
    "Europe/Berlin": (3600, "Central European Time"),
    "Europe/Paris": (3600, "Central European Time"),
    "America/Los_Angeles": (-28800, "Pacific Standard Time"),
    "Europe/Sofia": (7200, "Eastern European Time"),
    "Asia/Dubai": (14400, "Gulf Standard Time"),
    "America/New_York": (-18000, "Eastern Standard Time"),
    "Europe/Madrid": (3600, "Central European Time"),
    "Australia/Sydney": (39600, "Australian Eastern Daylight Time"),
}

# name, purpose, private, bot is a member
_CHANNELS: list[tuple[str, str, bool, bool]] = [
    ("general", "Company-wide announcements", False, True),
    ("random", "Non-work banter", False, False),
    ("support", "Day-to-day support chatter", False, True),
    ("support-leads", "Team leads: escalations and digests", False, True),
    ("csat-alerts", "Bad CSAT ratings that need a follow-up", False, True),
    ("shoutouts", "Celebrate great work", False, True),
    ("qa-reviews", "Agent QA cycles and calibration", False, True),
    ("deskbot-admin", "deskbot operations and health", True, True),
]

# handle, name, member departments or explicit names
_GROUPS: list[tuple[str, str, list[str]]] = [
    ("support-team", "Support team", ["dept:support"]),
    ("support-leads", "Support leads", ["maya.okafor", "lucas.ferreira", "aiko.tanaka"]),
    ("qa-reviewers", "QA reviewers", ["lucas.ferreira", "aiko.tanaka", "noah.kim"]),
    ("billing", "Billing", ["dept:billing"]),
    ("engineering", "Engineering", ["dept:engineering"]),
    ("sales", "Sales", ["dept:sales"]),
]

EMAIL_DOMAIN = "sandbox.example"
TEAM_DOMAIN = "deskbot-sandbox"
TEAM_NAME = "Deskbot Sandbox"
ENTERPRISE_NAME = "Sandbox Org"
BOT_NAME = "deskbot"


@dataclass
class Workspace:
    """Users, channels and user groups of the sandbox team, in Slack's JSON shapes."""

    rng: random.Random
    created: int
    team_id: str = ""
    enterprise_id: str = ""
    app_id: str = ""
    bot_id: str = ""
    bot_user_id: str = ""
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    members: dict[str, list[str]] = field(default_factory=dict)
    usergroups: dict[str, dict[str, Any]] = field(default_factory=dict)
    usergroup_members: dict[str, list[str]] = field(default_factory=dict)
    _issued: set[str] = field(default_factory=set)

    def new_id(self, prefix: str, length: int = 10) -> str:
        while True:
            candidate = prefix + "".join(self.rng.choice(_ID_CHARS) for _ in range(length))
            if candidate not in self._issued:
                self._issued.add(candidate)
                return candidate

    # ------------------------------------------------------------------ building

    @classmethod
    def seeded(cls, seed: int, created: int) -> Workspace:
        ws = cls(rng=random.Random(seed), created=created)
        ws.team_id = ws.new_id("T")
        ws.enterprise_id = ws.new_id("E")
        ws.app_id = ws.new_id("A")
        ws.bot_id = ws.new_id("B")
        ws.bot_user_id = ws.new_id("U")
        ws._add_special_users()
        departments: dict[str, list[str]] = {}
        by_name: dict[str, str] = {}
        for name, real_name, title, tz, dept in _PEOPLE:
            user = ws.add_user(name, real_name=real_name, title=title, tz=tz)
            departments.setdefault(dept, []).append(user["id"])
            by_name[name] = user["id"]
        owner = by_name["maya.okafor"]
        ws.users[owner].update(is_admin=True, is_owner=True, is_primary_owner=True)
        # A person who left: still listed by users.list, as Slack does.
        gone = ws.add_user("former.agent", real_name="Former Agent", title="Support Agent")
        gone["deleted"] = True
        # A guest from a partner company.
        guest = ws.add_user("partner.guest", real_name="Partner Guest", tz="America/New_York")
        guest["is_restricted"] = True
        humans = [u["id"] for u in ws.users.values() if ws.is_person(u)]
        for name, purpose, private, bot_member in _CHANNELS:
            member_ids = (
                humans if not private else [by_name["maya.okafor"], by_name["lucas.ferreira"]]
            )
            ws.add_channel(
                name, purpose=purpose, private=private, members=member_ids, bot_member=bot_member
            )
        for handle, title, spec in _GROUPS:
            ids: list[str] = []
            for item in spec:
                ids += departments[item[5:]] if item.startswith("dept:") else [by_name[item]]
            ws.add_usergroup(handle, title, ids)
        return ws

    def _add_special_users(self) -> None:
        self.users["USLACKBOT"] = {
            "id": "USLACKBOT",
            "team_id": self.team_id,
            "name": "slackbot",
            "deleted": False,
            "color": "757575",
            "real_name": "Slackbot",
            "tz": "America/Los_Angeles",
            "tz_label": "Pacific Standard Time",
            "tz_offset": -28800,
            "profile": {
                "real_name": "Slackbot",
                "real_name_normalized": "Slackbot",
                "display_name": "Slackbot",
                "display_name_normalized": "Slackbot",
                "first_name": "slackbot",
                "last_name": "",
                "team": self.team_id,
            },
            "is_admin": False,
            "is_owner": False,
            "is_primary_owner": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": False,
            "is_app_user": False,
            "updated": self.created,
        }
        self.users[self.bot_user_id] = {
            "id": self.bot_user_id,
            "team_id": self.team_id,
            "name": BOT_NAME,
            "deleted": False,
            "color": "4bbe2e",
            "real_name": "deskbot",
            "tz": "America/Los_Angeles",
            "tz_label": "Pacific Standard Time",
            "tz_offset": -28800,
            "profile": {
                "real_name": "deskbot",
                "real_name_normalized": "deskbot",
                "display_name": "",
                "display_name_normalized": "",
                "bot_id": self.bot_id,
                "api_app_id": self.app_id,
                "always_active": True,
                "first_name": "deskbot",
                "last_name": "",
                "team": self.team_id,
            },
            "is_admin": False,
            "is_owner": False,
            "is_primary_owner": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": True,
            "is_app_user": False,
            "updated": self.created,
        }

    def add_user(
        self,
        name: str,
        *,
        real_name: str | None = None,
        email: str | None = None,
        title: str = "",
        tz: str | None = None,
        is_admin: bool = False,
        is_bot: bool = False,
    ) -> dict[str, Any]:
        """Add a person (or a bot) and return their ``users.info`` object."""
        if any(u["name"] == name for u in self.users.values()):
            raise ValueError(f"a sandbox user named {name!r} already exists; pick another name")
        user_id = self.new_id("U")
        first, _, last = (real_name or "").partition(" ")
        profile: dict[str, Any] = {
            "title": title,
            "phone": "",
            "skype": "",
            "real_name": real_name or "",
            "real_name_normalized": real_name or "",
            "display_name": name.split(".", maxsplit=1)[0] if real_name else "",
            "display_name_normalized": name.split(".", maxsplit=1)[0] if real_name else "",
            "fields": None,
            "status_text": "",
            "status_emoji": "",
            "status_expiration": 0,
            "avatar_hash": "".join(self.rng.choice("0123456789abcdef") for _ in range(12)),
            "first_name": first,
            "last_name": last,
            "image_24": f"https://avatars.{EMAIL_DOMAIN}/{user_id}_24.png",
            "image_48": f"https://avatars.{EMAIL_DOMAIN}/{user_id}_48.png",
            "image_72": f"https://avatars.{EMAIL_DOMAIN}/{user_id}_72.png",
            "team": self.team_id,
        }
        if not is_bot:
            profile["email"] = email or f"{name}@{EMAIL_DOMAIN}"
        user: dict[str, Any] = {
            "id": user_id,
            "team_id": self.team_id,
            "name": name,
            "deleted": False,
            "color": "".join(self.rng.choice("0123456789abcdef") for _ in range(6)),
            "profile": profile,
            "is_admin": is_admin,
            "is_owner": False,
            "is_primary_owner": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": is_bot,
            "is_app_user": False,
            "updated": self.created,
            "is_email_confirmed": not is_bot,
            "who_can_share_contact_card": "EVERYONE",
        }
        if real_name:
            user["real_name"] = real_name
        if tz:
            offset, label = _TZ_OFFSETS.get(tz, (0, tz))
            user.update(tz=tz, tz_label=label, tz_offset=offset)
        self.users[user_id] = user
        return user

    def add_channel(
        self,
        name: str,
        *,
        purpose: str = "",
        private: bool = False,
        members: list[str] | None = None,
        bot_member: bool = True,
    ) -> dict[str, Any]:
        """Add a channel and return its ``conversations.info`` object."""
        if self.channel_by_name(name) is not None:
            raise ValueError(f"a sandbox channel named #{name} already exists; pick another name")
        channel_id = self.new_id("G" if private else "C")
        member_ids = list(members or [])
        if bot_member:
            member_ids.append(self.bot_user_id)
        channel: dict[str, Any] = {
            "id": channel_id,
            "name": name,
            "is_channel": not private,
            "is_group": private,
            "is_im": False,
            "is_mpim": False,
            "is_private": private,
            "created": self.created,
            "is_archived": False,
            "is_general": name == "general",
            "unlinked": 0,
            "name_normalized": name,
            "is_shared": False,
            "is_org_shared": False,
            "is_ext_shared": False,
            "is_pending_ext_shared": False,
            "pending_shared": [],
            "context_team_id": self.team_id,
            "updated": self.created * 1000,
            "parent_conversation": None,
            "creator": next(iter(self.users)),
            "shared_team_ids": [self.team_id],
            "pending_connected_team_ids": [],
            "topic": {"value": "", "creator": "", "last_set": 0},
            "purpose": {
                "value": purpose,
                "creator": "",
                "last_set": self.created if purpose else 0,
            },
            "previous_names": [],
            "num_members": len(member_ids),
        }
        self.channels[channel_id] = channel
        self.members[channel_id] = member_ids
        return channel

    def open_dm(self, user_id: str) -> dict[str, Any]:
        """The bot's direct-message channel with ``user_id`` (created on first use)."""
        for channel in self.channels.values():
            if channel.get("is_im") and channel.get("user") == user_id:
                return channel
        channel = {
            "id": self.new_id("D"),
            "created": self.created,
            "is_archived": False,
            "is_im": True,
            "is_org_shared": False,
            "context_team_id": self.team_id,
            "updated": self.created * 1000,
            "user": user_id,
            "is_user_deleted": bool(self.users[user_id].get("deleted")),
            "priority": 0,
        }
        self.channels[channel["id"]] = channel
        self.members[channel["id"]] = [user_id, self.bot_user_id]
        return channel

    def open_mpim(self, user_ids: list[str]) -> dict[str, Any]:
        """The group DM of the bot with ``user_ids`` (created on first use)."""
        wanted = {*user_ids, self.bot_user_id}
        for channel in self.channels.values():
            if channel.get("is_mpim") and set(self.members[channel["id"]]) == wanted:
                return channel
        names = sorted(self.users[u]["name"] for u in wanted)
        channel_id = self.new_id("G")
        channel = {
            "id": channel_id,
            "name": "mpdm-" + "--".join(names) + "-1",
            "is_channel": False,
            "is_group": True,
            "is_im": False,
            "is_mpim": True,
            "is_private": True,
            "created": self.created,
            "is_archived": False,
            "is_general": False,
            "context_team_id": self.team_id,
            "updated": self.created * 1000,
            "creator": self.bot_user_id,
            "topic": {"value": "Group messaging", "creator": "", "last_set": 0},
            "purpose": {
                "value": "Group messaging with: " + " ".join(f"@{n}" for n in names),
                "creator": "",
                "last_set": 0,
            },
            "num_members": len(wanted),
        }
        self.channels[channel_id] = channel
        self.members[channel_id] = sorted(wanted)
        return channel

    def add_usergroup(self, handle: str, name: str, user_ids: list[str]) -> dict[str, Any]:
        group_id = self.new_id("S")
        group = {
            "id": group_id,
            "team_id": self.team_id,
            "is_usergroup": True,
            "is_subteam": True,
            "name": name,
            "description": f"{name} ({len(user_ids)} people)",
            "handle": handle,
            "is_external": False,
            "date_create": self.created,
            "date_update": self.created,
            "date_delete": 0,
            "auto_type": None,
            "created_by": next(iter(self.users)),
            "updated_by": next(iter(self.users)),
            "deleted_by": None,
            "prefs": {"channels": [], "groups": []},
            "user_count": len(user_ids),
        }
        self.usergroups[group_id] = group
        self.usergroup_members[group_id] = list(user_ids)
        return group

    # ------------------------------------------------------------------ queries

    @staticmethod
    def is_person(user: dict[str, Any]) -> bool:
        return not user.get("is_bot") and not user.get("deleted") and user["id"] != "USLACKBOT"

    def channel_by_name(self, name: str) -> dict[str, Any] | None:
        name = name.lstrip("#")
        for channel in self.channels.values():
            if channel.get("name") == name:
                return channel
        return None

    def resolve_channel(self, ref: str) -> dict[str, Any] | None:
        """A channel from an id (``C…``, ``G…``, ``D…``) or a name (``#support`` / ``support``)."""
        if ref in self.channels:
            return self.channels[ref]
        return self.channel_by_name(ref)

    def user_by_name(self, name: str) -> dict[str, Any] | None:
        name = name.lstrip("@")
        for user in self.users.values():
            if user["name"] == name:
                return user
        return None

    def channel_label(self, channel_id: str) -> str:
        """A file-name-safe, human name: ``support-leads``, ``dm-maya.okafor``."""
        channel = self.channels.get(channel_id)
        if channel is None:
            return channel_id
        if channel.get("is_im"):
            user = self.users.get(channel["user"], {})
            return f"dm-{user.get('name', channel['user'])}"
        return str(channel["name"])

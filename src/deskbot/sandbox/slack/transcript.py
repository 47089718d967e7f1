"""Readable transcripts of what the bot posted: per channel on disk (Markdown) and in a terminal.

Block Kit is rendered as text (headers bold, fields as bullets, buttons as ``[Claim]``), thread
replies are nested under their parent, edits say ``(edited)``, ephemerals say whom they were
shown to, and uploaded images are linked to the copies saved under ``files/``.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from deskbot.sandbox.slack.blockkit import render_blocks
from deskbot.sandbox.slack.workspace import Workspace

_MENTION = re.compile(r"<([@#!])([^>|]+)(?:\|([^>]*))?>")
_LINK = re.compile(r"<(https?://[^>|]+)\|([^>]*)>")
VIEWS_TRANSCRIPT = "views"


def humanize(text: str, ws: Workspace) -> str:
    """Slack's ``<@U…>``, ``<#C…>``, ``<!subteam^S…>`` and ``<url|label>`` as people read them."""

    def mention(match: re.Match[str]) -> str:
        sigil, ref, label = match.group(1), match.group(2), match.group(3)
        if sigil == "@":
            user = ws.users.get(ref)
            return f"@{user['name']}" if user else f"@{label or ref}"
        if sigil == "#":
            channel = ws.channels.get(ref)
            return f"#{ws.channel_label(ref)}" if channel else f"#{label or ref}"
        if ref.startswith("subteam^"):
            group = ws.usergroups.get(ref.removeprefix("subteam^"))
            return f"@{group['handle']}" if group else f"@{label or ref}"
        return f"@{ref}"

    text = _LINK.sub(lambda m: f"{m.group(2)} ({m.group(1)})", text)
    return _MENTION.sub(mention, text)


def _clock(ts: str) -> str:
    return datetime.fromtimestamp(float(ts), UTC).strftime("%Y-%m-%d %H:%M:%S")


def message_lines(entry: dict[str, Any], ws: Workspace) -> list[str]:
    """The body of a message as text lines (blocks when present, else the text)."""
    blocks = entry.get("blocks") or []
    lines = render_blocks(blocks) if blocks else [entry.get("text") or ""]
    return [part for line in lines for part in humanize(line, ws).splitlines()]


def _heading(entry: dict[str, Any], ws: Workspace) -> str:
    if entry["kind"] == "action":
        user = ws.users.get(entry["user"], {})
        name = user.get("name", entry["user"])
        return f"*@{name}* {humanize(entry['text'], ws)} · {_clock(entry['ts'])}"
    notes = []
    who = "deskbot"
    if entry["kind"] == "ephemeral":
        to = ws.users.get(entry.get("to") or "", {})
        notes.append(f"only visible to @{to.get('name', entry.get('to'))}")
    if entry.get("edited"):
        notes.append("edited")
    if entry.get("deleted"):
        notes.append("deleted")
    if entry.get("source") in ("response_url", "slash_ack"):
        notes.append("reply to a command" if entry["source"] == "slash_ack" else "via response_url")
    suffix = f" ({', '.join(notes)})" if notes else ""
    return f"**{who}** · {_clock(entry['ts'])}{suffix}"


def _file_lines(entry: dict[str, Any], files: dict[str, dict[str, Any]], base: Path) -> list[str]:
    lines = []
    for file_obj in entry.get("files") or []:
        stored = files.get(file_obj["id"], {})
        path = stored.get("path")
        title = file_obj.get("title") or file_obj.get("name")
        if path is not None:
            rel = Path(os.path.relpath(path, base)).as_posix()
            if str(file_obj.get("mimetype", "")).startswith("image/"):
                lines.append(f"![{title}]({rel})")
            else:
                lines.append(f"📎 [{title}]({rel})")
        else:
            lines.append(f"📎 {title}")
    return lines


def render_channel(
    channel_id: str,
    *,
    messages: list[dict[str, Any]],
    actions: list[dict[str, Any]],
    ws: Workspace,
    files: dict[str, dict[str, Any]],
    base: Path,
) -> str:
    """A channel's transcript as Markdown. ``base`` is the transcript's folder (for file links)."""
    entries = sorted(
        [m for m in messages if m["channel"] == channel_id]
        + [a for a in actions if a["channel"] == channel_id],
        key=lambda e: e["seq"],
    )
    label = ws.channel_label(channel_id)
    title = f"# {label}" if label.startswith("dm-") else f"# #{label}"
    out = [title, ""]
    replies: dict[str, list[dict[str, Any]]] = {}
    top: list[dict[str, Any]] = []
    known_ts = {e["ts"] for e in entries if e["kind"] != "action"}
    for entry in entries:
        parent = entry.get("thread_ts")
        if parent and parent != entry["ts"] and parent in known_ts:
            replies.setdefault(parent, []).append(entry)
        else:
            top.append(entry)

    def emit(entry: dict[str, Any], in_thread: bool) -> None:
        heading = _heading(entry, ws)
        out.append(f"> ↳ {heading} (in thread)" if in_thread else heading)
        if entry["kind"] != "action":
            body = message_lines(entry, ws) + _file_lines(entry, files, base)
            quote = ">> " if in_thread else "> "
            out.extend(f"{quote}{line}".rstrip() for line in body or [""])
        out.append("")

    for entry in top:
        emit(entry, in_thread=False)
        for reply in replies.get(entry["ts"], []):
            emit(reply, in_thread=True)
    return "\n".join(out).rstrip() + "\n"


def render_views(views: dict[str, dict[str, Any]], ws: Workspace) -> str:
    """Modals and home tabs the bot showed, with their blocks as text."""
    out = ["# Views (modals and home tabs)", ""]
    for entry in views.values():
        view = entry["view"]
        user = ws.users.get(entry["user"], {})
        title = (view.get("title") or {}).get("text", "Home")
        out.append(
            f"## {view['type']} “{title}” for @{user.get('name', entry['user'])} ({view['id']})"
        )
        out.append("")
        for line in render_blocks(view.get("blocks") or []):
            out.append(f"> {humanize(line, ws)}".rstrip())
        buttons = [
            f"[{(view.get(k) or {}).get('text')}]" for k in ("close", "submit") if view.get(k)
        ]
        if buttons:
            out.append("> " + " ".join(buttons))
        out.append("")
        for submission in entry.get("submissions") or []:
            out.append(f"*@{user.get('name', entry['user'])}* submitted:")
            for block_id, actions in submission["values"].items():
                for action_id, state in actions.items():
                    out.append(f"- {block_id}.{action_id} = {_state_text(state)}")
            outcome = submission["response_action"] or (
                "closed" if submission["status"] == 200 else f"HTTP {submission['status']}"
            )
            out.append(f"- → {outcome}")
            out.append("")
    return "\n".join(out).rstrip() + "\n"


def _state_text(state: dict[str, Any]) -> str:
    """A submitted element value as text: ``3 points``, ``a, b``, ``@maya.okafor``…"""
    if "selected_option" in state:
        return _option_text(state["selected_option"])
    if "selected_options" in state:
        return ", ".join(_option_text(o) for o in state["selected_options"]) or "(none)"
    for key in ("value", "selected_user", "selected_date", "selected_time", "selected_channel"):
        if key in state:
            return "(empty)" if state[key] in (None, "") else str(state[key])
    return str({k: v for k, v in state.items() if k != "type"})


def _option_text(option: Any) -> str:
    if not isinstance(option, dict):
        return "(none)"
    text = option.get("text")
    return str(text.get("text")) if isinstance(text, dict) else str(option.get("value"))


def print_event(console: Console, event: dict[str, Any], ws: Workspace) -> None:
    """One live line (and its body) in the terminal for a new message, edit, click or view."""
    kind = event.get("event")
    if kind == "view":
        view = event["view"]
        user = ws.users.get(event["user"], {})
        title = (view.get("title") or {}).get("text", "Home")
        console.print(
            f"[magenta]{view['type']}[/] “{escape(title)}” for @{escape(user.get('name', ''))}"
        )
        for line in render_blocks(view.get("blocks") or []):
            console.print(f"    {escape(humanize(line, ws))}")
        return
    channel = event["channel_name"]
    where = channel if channel.startswith("dm-") else f"#{channel}"
    if kind == "action":
        user = ws.users.get(event["user"], {})
        console.print(
            f"[cyan]{escape(where)}[/] @{escape(user.get('name', ''))} "
            f"{escape(humanize(event['text'], ws))}"
        )
        return
    head = _heading(event, ws).replace("**", "")
    marker = " ↳" if event.get("thread_ts") and event["thread_ts"] != event["ts"] else ""
    update = " [yellow](update)[/]" if kind == "update" else ""
    console.print(f"[cyan]{escape(where)}[/]{marker} [bold]{escape(head)}[/]{update}")
    for line in message_lines(event, ws):
        console.print(f"    {escape(line)}")
    for file_obj in event.get("files") or []:
        console.print(f"    📎 {escape(str(file_obj.get('name')))}")

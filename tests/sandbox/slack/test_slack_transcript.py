"""The transcript a person reads: Block Kit as text, threads, edits, ephemerals, clicks, images."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from rich.console import Console
from slack_sdk import WebClient

from deskbot.sandbox.slack import SlackSandbox, render_blocks
from deskbot.testing import FakeClock


def test_render_blocks_as_text() -> None:
    lines = render_blocks(
        [
            {"type": "header", "text": {"type": "plain_text", "text": "Weekly digest"}},
            {"type": "section", "fields": [{"type": "mrkdwn", "text": "*CSAT*\n91%"}]},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "vs 88% last week"}]},
            {"type": "divider"},
            {
                "type": "image",
                "image_url": "https://x/c.png",
                "alt_text": "chart",
                "title": {"type": "plain_text", "text": "Trend"},
            },
            {
                "type": "actions",
                "elements": [{"type": "button", "text": {"type": "plain_text", "text": "Claim"}}],
            },
        ]
    )
    assert lines == [
        "**Weekly digest**",
        "  • *CSAT* 91%",
        "_vs 88% last week_",
        "---",
        "(image: Trend <https://x/c.png>)",
        "[Claim]",
    ]


def test_transcript_of_a_small_scenario(
    tmp_path: Path, clock: FakeClock, receiver: Any, png: bytes
) -> None:
    terminal = io.StringIO()
    sandbox = SlackSandbox(
        out_dir=tmp_path,
        seed=5,
        clock=clock,
        console=Console(file=terminal, width=120, color_system=None),
    )
    client = WebClient(token=sandbox.bot_token, base_url=sandbox.start())
    try:
        sam = sandbox.user_id("sam.reyes")
        leads = sandbox.usergroup_id("support-leads")
        alert = client.chat_postMessage(
            channel="#csat-alerts",
            text="Bad rating on #4711",
            blocks=[
                {"type": "header", "text": {"type": "plain_text", "text": "Bad rating on #4711"}},
                {
                    "type": "section",
                    "text": {"type": "mrkdwn", "text": f"Agent <@{sam}>, owner <!subteam^{leads}>"},
                },
                {
                    "type": "actions",
                    "elements": [
                        {
                            "type": "button",
                            "action_id": "claim",
                            "text": {"type": "plain_text", "text": "Claim"},
                        }
                    ],
                },
            ],
        )
        clock.advance(2)
        client.chat_postMessage(
            channel="#csat-alerts", text="Still unclaimed after 2 h", thread_ts=alert["ts"]
        )
        sandbox.click_button(
            receiver.url,
            message_ts=alert["ts"],
            channel="#csat-alerts",
            action_id="claim",
            user_id="sam.reyes",
        )
        client.chat_update(
            channel=alert["channel"], ts=alert["ts"], text=f"Claimed by <@{sam}>", blocks=[]
        )
        client.chat_postEphemeral(
            channel="#csat-alerts", user=sam, text="You own this follow-up now"
        )
        clock.advance(1)
        client.files_upload_v2(
            channel=alert["channel"],
            file=png,
            filename="csat trend.png",
            title="CSAT trend",
            initial_comment="This week",
        )
        text = sandbox.transcript_path("#csat-alerts").read_text()
    finally:
        sandbox.stop()

    assert sandbox.transcript_path("csat-alerts") == tmp_path / "transcript" / "csat-alerts.md"
    assert text == (
        "# #csat-alerts\n"
        "\n"
        "**deskbot** · 2026-11-02 09:00:00 (edited)\n"
        "> Claimed by @sam.reyes\n"
        "\n"
        "> ↳ **deskbot** · 2026-11-02 09:00:02 (in thread)\n"
        ">> Still unclaimed after 2 h\n"
        "\n"
        "*@sam.reyes* clicked [Claim] · 2026-11-02 09:00:02\n"
        "\n"
        "**deskbot** · 2026-11-02 09:00:02 (only visible to @sam.reyes)\n"
        "> You own this follow-up now\n"
        "\n"
        "**deskbot** · 2026-11-02 09:00:03\n"
        "> This week\n"
        "> ![CSAT trend](../files/csat_trend.png)\n"
    )
    assert (tmp_path / "files" / "csat_trend.png").read_bytes() == png
    shown = terminal.getvalue()
    assert "#csat-alerts deskbot · 2026-11-02 09:00:00" in shown
    assert "**Bad rating on #4711**" in shown and "Agent @sam.reyes, owner @support-leads" in shown
    assert "[Claim]" in shown and "@sam.reyes clicked [Claim]" in shown
    assert "📎 csat trend.png" in shown


def test_views_transcript_lists_modals(sandbox: SlackSandbox, client: WebClient) -> None:
    modal = {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Score ticket"},
        "submit": {"type": "plain_text", "text": "Save"},
        "blocks": [
            {
                "type": "input",
                "label": {"type": "plain_text", "text": "Notes"},
                "element": {"type": "plain_text_input", "action_id": "n"},
            }
        ],
    }
    client.views_open(trigger_id=sandbox.new_trigger_id("noah.kim"), view=modal)
    text = sandbox.transcript_path("views").read_text()
    assert "## modal “Score ticket” for @noah.kim" in text
    assert "> Notes: [____]" in text and "> [Save]" in text


def test_transcripts_are_written_in_coalesced_batches(tmp_path: Path, clock: FakeClock) -> None:
    sandbox = SlackSandbox(
        out_dir=tmp_path, seed=5, clock=clock, post_burst=10, transcript_interval=60
    )
    client = WebClient(token=sandbox.bot_token, base_url=sandbox.start())
    try:
        for n in range(3):
            client.chat_postMessage(channel="#shoutouts", text=f"kudos {n}")
        path = tmp_path / "transcript" / "shoutouts.md"
        assert not path.exists()  # the writer waits for the burst to end
        assert sandbox.flush_transcripts() == [path]
        assert path.read_text().count("kudos") == 3
        assert sandbox.flush_transcripts() == []  # nothing changed since
        client.chat_postMessage(channel="#shoutouts", text="kudos 3")
    finally:
        sandbox.stop()  # wakes the writer at once and writes what is left
    assert "kudos 3" in path.read_text()

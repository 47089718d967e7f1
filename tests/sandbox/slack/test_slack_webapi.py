"""slack_sdk's WebClient, unchanged, against the sandbox: the calls deskbot makes succeed and are
recorded in Slack's shapes."""

from __future__ import annotations

from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from deskbot.sandbox.slack import SlackSandbox
from deskbot.testing import FakeClock

ALERT_BLOCKS: list[dict[str, Any]] = [
    {"type": "header", "text": {"type": "plain_text", "text": "Bad rating on #4711"}},
    {
        "type": "section",
        "text": {"type": "mrkdwn", "text": "*Customer said:* the refund never arrived"},
        "fields": [
            {"type": "mrkdwn", "text": "*Agent*\nSam Reyes"},
            {"type": "mrkdwn", "text": "*Reason*\nIssue not resolved"},
        ],
    },
    {"type": "context", "elements": [{"type": "mrkdwn", "text": "rated 2026-11-02 08:55 UTC"}]},
    {"type": "divider"},
    {
        "type": "actions",
        "block_id": "followup",
        "elements": [
            {
                "type": "button",
                "action_id": "csat_claim",
                "text": {"type": "plain_text", "text": "Claim"},
                "value": "4711",
                "style": "primary",
            },
            {
                "type": "button",
                "action_id": "csat_handled",
                "text": {"type": "plain_text", "text": "Mark handled"},
                "value": "4711",
            },
        ],
    },
]


def test_auth_test_names_the_bot_and_team(client: WebClient, sandbox: SlackSandbox) -> None:
    response = client.auth_test()
    assert response["ok"] is True
    assert response["user_id"] == sandbox.bot_user_id
    assert response["team_id"] == sandbox.team_id
    assert response["bot_id"] == sandbox.bot_id
    assert sandbox.bot_token.startswith("xoxb-")


def test_post_message_with_blocks_is_recorded(client: WebClient, sandbox: SlackSandbox) -> None:
    channel = sandbox.channel_id("#csat-alerts")
    response = client.chat_postMessage(
        channel=channel, text="Bad rating on #4711", blocks=ALERT_BLOCKS
    )
    assert response["channel"] == channel
    assert response["message"]["bot_id"] == sandbox.bot_id
    # Slack fills in a block_id for every block that had none.
    assert all(b.get("block_id") for b in response["message"]["blocks"])
    [message] = sandbox.messages("#csat-alerts")
    assert message["ts"] == response["ts"]
    assert message["text"] == "Bad rating on #4711"
    assert message["blocks"][4]["elements"][0]["action_id"] == "csat_claim"
    assert message["kind"] == "message" and message["thread_ts"] is None
    assert [c.method for c in sandbox.calls] == ["chat.postMessage"]
    assert "token" not in sandbox.calls[0].args


def test_post_by_channel_name_and_thread_reply(client: WebClient, sandbox: SlackSandbox) -> None:
    parent = client.chat_postMessage(channel="#support-leads", text="Daily digest")
    reply = client.chat_postMessage(channel="support-leads", text="Details", thread_ts=parent["ts"])
    assert reply["message"]["thread_ts"] == parent["ts"]
    channel = sandbox.channel_id("support-leads")
    history = client.conversations_history(channel=channel)
    with pytest.raises(SlackApiError) as info:
        client.conversations_history(channel=channel, oldest="yesterday")
    assert info.value.response["error"] == "invalid_ts_oldest"
    assert client.conversations_history(channel=channel, oldest=parent["ts"])["messages"] == []
    assert [m["text"] for m in history["messages"]] == ["Daily digest"]
    assert history["messages"][0]["reply_count"] == 1
    replies = client.conversations_replies(channel=channel, ts=parent["ts"])
    assert [m["text"] for m in replies["messages"]] == ["Daily digest", "Details"]
    with pytest.raises(SlackApiError) as info:
        client.chat_postMessage(channel=channel, text="x", thread_ts="1.000001")
    assert info.value.response["error"] == "invalid_thread_ts"
    with pytest.raises(SlackApiError) as info:  # a reply is not a thread root
        client.chat_postMessage(channel=channel, text="x", thread_ts=reply["ts"])
    assert info.value.response["error"] == "invalid_thread_ts"


def test_update_keeps_history_and_marks_edited(client: WebClient, sandbox: SlackSandbox) -> None:
    posted = client.chat_postMessage(channel="#csat-alerts", text="open", blocks=ALERT_BLOCKS)
    done = [
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": f"Handled by <@{sandbox.user_id('sam.reyes')}>"},
        }
    ]
    updated = client.chat_update(
        channel=posted["channel"], ts=posted["ts"], text="handled", blocks=done
    )
    assert updated["ts"] == posted["ts"] and updated["text"] == "handled"
    [message] = sandbox.messages("#csat-alerts")
    assert message["text"] == "handled"
    assert message["blocks"][0]["text"]["text"].startswith("Handled by")
    assert message["edited"]["user"] == sandbox.bot_user_id
    assert message["history"][0]["text"] == "open"
    with pytest.raises(SlackApiError) as info:
        client.chat_update(channel=posted["channel"], ts="1.000002", text="nope")
    assert info.value.response["error"] == "message_not_found"


def test_ephemeral_names_its_recipient(client: WebClient, sandbox: SlackSandbox) -> None:
    user = sandbox.user_id("priya.nair")
    response = client.chat_postEphemeral(
        channel="#support", user=user, text="Only you can see this"
    )
    [message] = sandbox.messages("#support")
    assert message["kind"] == "ephemeral"
    assert message["user"] == user and message["to"] == user
    assert message["ts"] == response["message_ts"]
    # Ephemerals are not part of the channel history.
    assert client.conversations_history(channel=sandbox.channel_id("#support"))["messages"] == []
    with pytest.raises(SlackApiError) as info:
        client.chat_postEphemeral(channel="#support", user="U_NOBODY", text="x")
    assert info.value.response["error"] == "user_not_found"


def test_open_dm_and_post_there(client: WebClient, sandbox: SlackSandbox) -> None:
    user = sandbox.user_id("noah.kim")
    opened = client.conversations_open(users=user)
    dm = opened["channel"]["id"]
    assert dm.startswith("D")
    assert client.conversations_open(users=[user])["channel"]["id"] == dm  # same DM again
    client.chat_postMessage(channel=dm, text="You have 3 tickets to review")
    [message] = sandbox.messages(dm)
    assert message["channel_name"] == "dm-noah.kim"
    info = client.conversations_info(channel=dm)["channel"]
    assert info["is_im"] is True and info["user"] == user
    lucas = sandbox.user_id("lucas.ferreira")
    group = client.conversations_open(users=[user, lucas])["channel"]["id"]
    assert client.conversations_info(channel=group)["channel"]["is_mpim"] is True
    assert client.conversations_open(users=f"{lucas},{user}")["channel"]["id"] == group
    client.chat_postMessage(channel=group, text="Calibration session at 3pm")
    assert sandbox.messages(group)[0]["channel_name"].startswith("mpdm-deskbot--lucas.ferreira")


def test_users_list_paginates_and_includes_bots_and_deleted(
    client: WebClient, sandbox: SlackSandbox
) -> None:
    members: list[dict[str, Any]] = []
    pages = 0
    for page in client.users_list(limit=5):
        pages += 1
        members += page["members"]
    assert pages > 1
    assert len(members) == len(sandbox.users)
    assert any(m["deleted"] for m in members)
    assert any(m["is_bot"] for m in members)
    assert any(m["id"] == "USLACKBOT" for m in members)
    # Some people have no real_name or tz, as in a real workspace.
    assert any("real_name" not in m and not m["is_bot"] for m in members)
    assert any("tz" not in m for m in members)
    maya = client.users_info(user=sandbox.user_id("maya.okafor"))["user"]
    assert maya["profile"]["email"] == "maya.okafor@sandbox.example"
    assert maya["tz"] == "Europe/London" and maya["is_admin"] is True
    looked_up = client.users_lookupByEmail(email="maya.okafor@sandbox.example")["user"]
    assert looked_up["id"] == maya["id"]
    with pytest.raises(SlackApiError) as info:
        client.users_lookupByEmail(email="nobody@sandbox.example")
    assert info.value.response["error"] == "users_not_found"


def test_usergroup_members_and_channels(client: WebClient, sandbox: SlackSandbox) -> None:
    leads = sandbox.usergroup_id("support-leads")
    users = client.usergroups_users_list(usergroup=leads)["users"]
    assert set(users) == {
        sandbox.user_id(n) for n in ("maya.okafor", "lucas.ferreira", "aiko.tanaka")
    }
    groups = client.usergroups_list(include_users=True)["usergroups"]
    assert {g["handle"] for g in groups} >= {"support-team", "qa-reviewers", "billing"}
    with pytest.raises(SlackApiError) as info:
        client.usergroups_users_list(usergroup="S_NONE")
    assert info.value.response["error"] == "no_such_subteam"
    names = [c["name"] for page in client.conversations_list(limit=3) for c in page["channels"]]
    assert {"support-leads", "csat-alerts", "shoutouts", "general"} <= set(names)
    assert "deskbot-admin" not in names  # private: only with types=private_channel
    private = client.conversations_list(types="private_channel")["channels"]
    assert [c["name"] for c in private] == ["deskbot-admin"]


def test_views_open_update_and_publish(client: WebClient, sandbox: SlackSandbox) -> None:
    modal = {
        "type": "modal",
        "callback_id": "qa_score",
        "title": {"type": "plain_text", "text": "Score ticket #4711"},
        "submit": {"type": "plain_text", "text": "Save"},
        "blocks": [
            {
                "type": "input",
                "block_id": "accuracy",
                "label": {"type": "plain_text", "text": "Accuracy"},
                "element": {
                    "type": "static_select",
                    "action_id": "score",
                    "options": [
                        {"text": {"type": "plain_text", "text": str(n)}, "value": str(n)}
                        for n in range(5)
                    ],
                },
            }
        ],
    }
    trigger = sandbox.new_trigger_id("lucas.ferreira")
    opened = client.views_open(trigger_id=trigger, view=modal)["view"]
    assert opened["id"].startswith("V") and opened["callback_id"] == "qa_score"
    assert opened["state"] == {"values": {}}
    modal["title"] = {"type": "plain_text", "text": "Score ticket (2/3)"}
    updated = client.views_update(view_id=opened["id"], hash=opened["hash"], view=modal)["view"]
    assert updated["id"] == opened["id"] and updated["title"]["text"] == "Score ticket (2/3)"
    with pytest.raises(SlackApiError) as info:
        client.views_update(view_id=opened["id"], hash=opened["hash"], view=modal)  # stale hash
    assert info.value.response["error"] == "hash_conflict"
    home = {
        "type": "home",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Hi"}}],
    }
    published = client.views_publish(user_id=sandbox.user_id("lucas.ferreira"), view=home)["view"]
    assert published["type"] == "home"
    [modal_view, home_view] = sandbox.views
    assert (
        modal_view["user"] == sandbox.user_id("lucas.ferreira")
        and home_view["view"]["type"] == "home"
    )


def test_files_upload_v2_saves_png_and_shares_it(
    client: WebClient, sandbox: SlackSandbox, png: bytes
) -> None:
    channel = sandbox.channel_id("#support-leads")
    parent = client.chat_postMessage(channel=channel, text="Weekly digest")
    data = png
    response = client.files_upload_v2(
        channel=channel,
        file=data,
        filename="csat-trend.png",
        title="CSAT trend",
        initial_comment="CSAT over the last 8 weeks",
        thread_ts=parent["ts"],
    )
    assert response["file"]["id"].startswith("F")
    [uploaded] = sandbox.files
    assert uploaded["name"] == "csat-trend.png" and uploaded["title"] == "CSAT trend"
    assert uploaded["channel"] == channel and uploaded["bytes"] == data
    assert uploaded["path"].read_bytes() == data
    assert uploaded["path"].parent.name == "files"
    share = sandbox.messages(channel)[-1]
    assert share["kind"] == "file" and share["thread_ts"] == parent["ts"]
    assert share["text"] == "CSAT over the last 8 weeks"
    assert share["files"][0]["name"] == "csat-trend.png"
    assert share["files"][0]["mimetype"] == "image/png"
    methods = [c.method for c in sandbox.calls]
    assert methods[-2:] == ["files.getUploadURLExternal", "files.completeUploadExternal"]
    info = client.files_info(file=response["file"]["id"])["file"]
    assert info["size"] == len(data) and info["channels"] == [channel]


def test_permalink_and_deterministic_ids(
    client: WebClient, sandbox: SlackSandbox, clock: FakeClock
) -> None:
    posted = client.chat_postMessage(channel="#shoutouts", text="Hero of the week: Priya")
    link = client.chat_getPermalink(channel=posted["channel"], message_ts=posted["ts"])["permalink"]
    assert link.endswith(f"/archives/{posted['channel']}/p{posted['ts'].replace('.', '')}")
    assert float(posted["ts"]) == pytest.approx(clock.now().timestamp(), abs=0.01)
    again = SlackSandbox(seed=7, clock=clock)
    assert again.bot_token == sandbox.bot_token and again.team_id == sandbox.team_id
    assert again.channel_id("#shoutouts") == sandbox.channel_id("#shoutouts")
    assert SlackSandbox(seed=8, clock=clock).team_id != sandbox.team_id


def test_add_user_joins_channels_and_is_visible_to_the_api(
    client: WebClient, sandbox: SlackSandbox
) -> None:
    added = sandbox.add_user(
        "zoe.adams",
        real_name="Zoë Adams",
        tz="Europe/Berlin",
        title="Support Agent",
        channels=["#qa-reviews"],
    )
    assert added["id"].startswith("U") and added["profile"]["email"] == "zoe.adams@sandbox.example"
    assert client.users_info(user=added["id"])["user"]["real_name"] == "Zoë Adams"
    assert (
        client.users_lookupByEmail(email="zoe.adams@sandbox.example")["user"]["id"] == added["id"]
    )
    members = client.conversations_members(channel=sandbox.channel_id("#qa-reviews"))["members"]
    assert added["id"] in members
    client.chat_postEphemeral(channel="#qa-reviews", user=added["id"], text="Welcome")
    with pytest.raises(ValueError, match="already exists"):
        sandbox.add_user("zoe.adams")
    with pytest.raises(KeyError, match="no sandbox channel"):
        sandbox.add_user("yan.li", channels=["#nowhere"])
    assert all(u["name"] != "yan.li" for u in sandbox.users)  # a failed add changes nothing


def test_message_metadata_is_kept_and_returned_only_when_asked(
    sandbox: SlackSandbox, client: WebClient
) -> None:
    """What deskbot's exactly-once protocol relies on: a post's metadata comes back from
    conversations.history with include_all_metadata, and only then."""
    channel = sandbox.channel_id("support-leads")
    marker = {"event_type": "deskbot_post", "event_payload": {"key": "digest:C1:2026-11-30#0"}}
    posted = client.chat_postMessage(channel=channel, text="digest", metadata=marker)
    plain = client.conversations_history(channel=channel, limit=5)["messages"]
    assert all("metadata" not in m for m in plain)
    found = client.conversations_history(channel=channel, limit=5, include_all_metadata=True)
    [mine] = [m for m in found["messages"] if m["ts"] == posted["ts"]]
    assert mine["metadata"] == marker
    with pytest.raises(SlackApiError, match="invalid_metadata_format"):
        client.chat_postMessage(channel=channel, text="x", metadata={"event_payload": {}})

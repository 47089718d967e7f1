"""A real slack_bolt App (the shape deskbot's Slack adapter takes) against the sandbox, end to
end: signed requests in, Web API calls and response_url replies out."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from slack_bolt import App
from slack_bolt.request import BoltRequest
from slack_sdk import WebClient

from deskbot.sandbox.slack import SlackSandbox


def serve(app: App) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            response = app.dispatch(
                BoltRequest(body=raw, headers={k: v for k, v in self.headers.items()})
            )
            data = (response.body or "").encode()
            self.send_response(response.status)
            for key, values in response.headers.items():
                for value in values:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/slack/events"


@pytest.fixture
def bolt_url(sandbox: SlackSandbox, client: WebClient) -> Iterator[str]:
    app = App(client=client, signing_secret=sandbox.signing_secret, process_before_response=True)
    modal = {
        "type": "modal",
        "callback_id": "handled_modal",
        "title": {"type": "plain_text", "text": "Mark handled"},
        "submit": {"type": "plain_text", "text": "Save"},
        "blocks": [
            {
                "type": "input",
                "block_id": "note",
                "label": {"type": "plain_text", "text": "What was done?"},
                "element": {"type": "plain_text_input", "action_id": "text"},
            }
        ],
    }

    @app.command("/deskbot")
    def command(ack: Any, respond: Any, command: dict[str, Any], client: WebClient) -> None:
        ack("Looking it up…")
        respond(text=f"You asked for {command['text']}")
        client.chat_postMessage(
            channel=command["channel_id"],
            text="Bad rating on #4711",
            blocks=[
                {"type": "section", "text": {"type": "mrkdwn", "text": "Bad rating on #4711"}},
                {
                    "type": "actions",
                    "elements": [
                        {
                            "type": "button",
                            "action_id": "handled",
                            "value": "4711",
                            "text": {"type": "plain_text", "text": "Mark handled"},
                        }
                    ],
                },
            ],
        )

    @app.action("handled")
    def handled(ack: Any, body: dict[str, Any], client: WebClient) -> None:
        ack()
        meta = f"{body['container']['channel_id']}|{body['container']['message_ts']}"
        client.views_open(trigger_id=body["trigger_id"], view={**modal, "private_metadata": meta})

    @app.view("handled_modal")
    def submitted(ack: Any, view: dict[str, Any], body: dict[str, Any], client: WebClient) -> None:
        ack()
        channel, ts = view["private_metadata"].split("|")
        note = view["state"]["values"]["note"]["text"]["value"]
        client.chat_update(
            channel=channel, ts=ts, text=f"Handled by <@{body['user']['id']}>: {note}", blocks=[]
        )

    server, url = serve(app)
    yield url
    server.shutdown()
    server.server_close()


def test_bolt_app_round_trip(sandbox: SlackSandbox, bolt_url: str) -> None:
    status, body = sandbox.send_slash_command(bolt_url, text="csat", user_id="lucas.ferreira")
    assert status == 200 and "Looking it up" in body
    # process_before_response: the listener's calls land before the ack is answered, as in Slack.
    answer, alert, ack = sandbox.messages("#support-leads")
    assert (ack["source"], ack["kind"], ack["text"]) == ("slash_ack", "ephemeral", "Looking it up…")
    assert (answer["source"], answer["to"]) == ("response_url", sandbox.user_id("lucas.ferreira"))
    assert answer["text"] == "You asked for csat"
    assert alert["kind"] == "message" and alert["text"] == "Bad rating on #4711"

    status, _ = sandbox.click_button(
        bolt_url,
        message_ts=alert["ts"],
        channel="#support-leads",
        action_id="handled",
        user_id="lucas.ferreira",
    )
    assert status == 200
    [modal] = sandbox.views
    assert modal["view"]["callback_id"] == "handled_modal" and modal["open"]

    status, _ = sandbox.submit_view(
        bolt_url,
        view_id=modal["view"]["id"],
        values={"note": {"text": "Refund re-issued"}},
        user_id="lucas.ferreira",
    )
    assert status == 200
    [updated] = [m for m in sandbox.messages("#support-leads") if m["ts"] == alert["ts"]]
    assert updated["edited"]
    assert updated["text"] == f"Handled by <@{sandbox.user_id('lucas.ferreira')}>: Refund re-issued"
    assert sandbox.views[0]["open"] is False
    assert sandbox.rejections == []
    assert [c.method for c in sandbox.calls] == [
        "auth.test",
        "chat.postMessage",
        "views.open",
        "chat.update",
    ]


def test_bolt_rejects_a_request_signed_with_another_secret(
    sandbox: SlackSandbox, bolt_url: str, clock: Any
) -> None:
    forger = SlackSandbox(seed=99, clock=clock)  # same shapes, different signing secret
    status, _ = forger.send_slash_command(bolt_url, text="stats")
    assert status == 401
    assert sandbox.messages() == []

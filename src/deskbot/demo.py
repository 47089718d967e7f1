"""``deskbot demo``: the whole bot against the bundled sandboxes, with an accelerated clock.

Nothing here is a fake of deskbot itself: the demo starts the local Zendesk and Slack servers on
loopback, writes an ordinary configuration file that points deskbot at them, and then runs the
same code the daemon runs — sync through zenpy, follow-ups, the Slack app over signed HTTP
requests, digests with charts, shout-outs — while it moves the Zendesk sandbox's clock forward
so a simulated day passes in seconds. Everything posted is in the Slack sandbox's transcript.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

from deskbot import bootstrap, demo_people
from deskbot.demo_calibration import calibration_scene, calibration_settings
from deskbot.demo_nps import add_nps_config, run_nps_scene
from deskbot.forecast_demo import forecast_scene
from deskbot.log import configure_logging
from deskbot.ports import SystemClock
from deskbot.sandbox.slack import SlackSandbox
from deskbot.sandbox.slack.blockkit import render_blocks
from deskbot.sandbox.zendesk import ZendeskSandbox
from deskbot.settings import Settings

MARKER = ".deskbot-demo"
# A rate-limit "minute" of the Zendesk sandbox lasts 60 / TIME_SCALE seconds; deskbot's limits are
# scaled by the same factor so its pacing is exercised for real, only faster.
TIME_SCALE = 60.0
SUPPORT_PEOPLE = ["sam.reyes", "priya.nair", "jonas.becker", "chloe.martin", "tom", "noah.kim"]
LEADS = ["lucas.ferreira", "aiko.tanaka"]
ADMIN = "maya.okafor"


class SandboxClock(SystemClock):
    """ "Now" is the Zendesk sandbox's simulated time; waiting (pacing) is real and stoppable."""

    def __init__(self, sandbox: ZendeskSandbox, stop: threading.Event) -> None:
        super().__init__(stop)
        self._sandbox = sandbox

    def now(self) -> datetime:
        return self._sandbox.now


@dataclass
class DemoOptions:
    out_dir: Path = Path("deskbot-demo")
    seed: int = 7
    tickets: int = 3000
    quiet: bool = False


@dataclass
class DemoResult:
    ok: bool = True
    steps: list[tuple[str, str]] = field(default_factory=list)  # (step, outcome)
    transcript_dir: Path | None = None
    images: list[Path] = field(default_factory=list)
    seconds: float = 0.0


def prepare_out_dir(path: Path) -> Path:
    """An empty output directory; only a previous demo's directory is ever cleared."""
    if path.exists() and any(path.iterdir()):
        if not (path / MARKER).exists():
            from deskbot.errors import DeskbotError

            raise DeskbotError(
                f"{path} exists and is not a deskbot demo directory; pass --out with a new or "
                "empty directory"
            )
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / MARKER).write_text("output of 'deskbot demo'; safe to delete\n", encoding="utf-8")
    return path


def demo_config(
    out: Path, zendesk: ZendeskSandbox, slack: SlackSandbox, agents: list[tuple[int, str, str]]
) -> dict[str, Any]:
    """The configuration a person would write for these two sandboxes."""
    start = (zendesk.now - timedelta(days=60)).date().isoformat()
    return {
        "timezone": "Europe/Berlin",
        "data_dir": str(out / "data"),
        "zendesk": {
            "subdomain": "deskbot-demo",
            "base_url": zendesk.base_url,
            "plan": "enterprise",
            "rate_limits": {
                "account_per_minute": int(700 * TIME_SCALE),
                "incremental_per_minute": int(10 * TIME_SCALE),
            },
        },
        "slack": {
            "mode": "http",
            "base_url": slack.base_url,
            "http": {"host": "127.0.0.1", "port": 0},
            "channels": {
                "digests": "#support-leads",
                "alerts": "#csat-alerts",
                "shoutouts": "#shoutouts",
                "admin": "#deskbot-admin",
            },
        },
        "sync": {"start_date": start, "page_size": 250},
        "roles": {"admins": [slack.user_id(ADMIN)], "leads": [slack.user_id(n) for n in LEADS]},
        "roster": {
            "agents": [
                {"zendesk_user_id": zid, "slack_user": slack.user_id(sname), "lead": lead}
                for zid, sname, lead in agents
            ]
        },
        "followups": {
            # Only ratings from the simulated day: older ones predate this (demo) deployment.
            "max_age_hours": 12,
            "escalation_channel": "#support-leads",
            "rules": [
                {
                    "name": "default",
                    "actions": {
                        "assign_to": "lead",
                        "slack_channel": "#csat-alerts",
                        "add_tags": ["csat_followup"],
                    },
                }
            ],
        },
        "digests": [
            {
                "name": "support-daily",
                "channel": "#support-leads",
                "schedule": "0 9 * * *",
                "period": "daily",
            }
        ],
        "shoutouts": {"channel": "#shoutouts", "daily_cap": 3, "hero_min_rated_tickets": 3},
        "qa": calibration_settings(slack),
        "logging": {"level": "warning", "format": "console"},
    }


def _more_messages_than(slack: SlackSandbox, count: int) -> Callable[[], bool | None]:
    return lambda: True if len(slack.messages()) > count else None


def _message(slack: SlackSandbox, channel: str, ts: str) -> dict[str, Any] | None:
    """The message ``ts`` in ``channel`` as it reads now (updates applied)."""
    return next((m for m in slack.messages(channel) if m.get("ts") == ts), None)


def _message_lines(message: dict[str, Any]) -> list[str]:
    blocks = message.get("blocks") or []
    lines = render_blocks(blocks) if blocks else str(message.get("text") or "").splitlines()
    return [line for line in lines if line.strip()]


def _rated_agent(alert: dict[str, Any]) -> str | None:
    """The Slack user of the "Agent at rating time" line of a follow-up alert."""
    for line in _message_lines(alert):
        if "Agent at rating time" in line and "<@" in line:
            return line.split("<@", 1)[1].split(">", 1)[0].split("|", 1)[0]
    return None


@contextmanager
def _env(values: dict[str, str]) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class Demo:
    """Runs the demo's steps in order and tells a person what happens."""

    def __init__(self, options: DemoOptions, console: Console | None = None) -> None:
        self.options = options
        self.console = console or Console()
        self.result = DemoResult()
        self.stop = threading.Event()

    # -- narration ------------------------------------------------------------------------

    def step(self, title: str) -> None:
        self.console.rule(f"[bold]{title}")

    def say(self, text: str) -> None:
        self.console.print(text, highlight=False)

    def record(self, step: str, outcome: str) -> None:
        self.result.steps.append((step, outcome))
        self.say(f"[green]✓[/green] {outcome}")

    # -- the run ----------------------------------------------------------------------------

    def run(self) -> DemoResult:
        began = time.monotonic()
        # The narration is the demo's output; only problems are logged beside it.
        configure_logging("warning", "console")
        out = prepare_out_dir(self.options.out_dir.resolve())
        self.step("Starting the Zendesk and Slack sandboxes on loopback")
        zendesk = ZendeskSandbox(
            self.options.seed,
            self.options.tickets,
            time_scale=TIME_SCALE,
            account_limit=700,
            incremental_limit=10,
        )
        zendesk.start()
        # Slack signs requests with the simulated time too, as deskbot checks them against it.
        slack = SlackSandbox(
            out_dir=out / "slack",
            seed=self.options.seed,
            post_burst=3,
            signature_clock=SandboxClock(zendesk, self.stop),
        )
        slack.start()
        try:
            self.say(f"Zendesk sandbox  {zendesk.base_url}  ({self.options.tickets} tickets)")
            self.say(f"Slack sandbox    {slack.base_url}")
            self._run(out, zendesk, slack)
        finally:
            self.stop.set()
            slack.write_transcripts()
            slack.stop()
            zendesk.stop()
        self.result.transcript_dir = out / "slack" / "transcript"
        self.result.images = sorted((out / "slack" / "files").glob("*.png"))
        self.result.seconds = time.monotonic() - began
        self.summary(zendesk, slack)
        return self.result

    def _run(self, out: Path, zendesk: ZendeskSandbox, slack: SlackSandbox) -> None:
        agent_ids = list(zendesk.state.agent_ids)
        people = SUPPORT_PEOPLE + LEADS
        agents = [
            (
                zid,
                name,
                slack.user_id(next(lead for lead in LEADS[i % 2 :] + LEADS if lead != name)),
            )
            for i, (zid, name) in enumerate(zip(agent_ids, people, strict=False))
        ]  # each agent's lead is a lead other than themselves
        config_path = out / "deskbot.yaml"
        config = demo_config(out, zendesk, slack, agents)
        demo_people.prepare(config, zendesk, slack)  # agents in Slack, departments as groups
        config_path.write_text(
            "# Written by 'deskbot demo': deskbot pointed at the local sandboxes.\n"
            + yaml.safe_dump(add_nps_config(config, slack), sort_keys=False),
            encoding="utf-8",
        )
        secrets = {
            "DESKBOT_ZENDESK_EMAIL": zendesk.email,
            "DESKBOT_ZENDESK_API_TOKEN": zendesk.token,
            "DESKBOT_SLACK_BOT_TOKEN": slack.bot_token,
            "DESKBOT_SLACK_SIGNING_SECRET": slack.signing_secret,
        }
        with _env(secrets):
            settings = bootstrap.load(config_path)
            self.say(f"Configuration    {config_path} (validated like any deskbot.yaml)")
            clock = SandboxClock(zendesk, self.stop)
            database = bootstrap.open_database(settings)
            try:
                self._scenario(settings, database, clock, zendesk, slack)
            finally:
                database.dispose()

    def _scenario(
        self,
        settings: Settings,
        database: Any,
        clock: SandboxClock,
        zendesk: ZendeskSandbox,
        slack: SlackSandbox,
    ) -> None:
        self.sync(settings, database, clock, zendesk, "Backfill: the first sync")
        demo_people.scene(self, settings, database, clock)
        handle: Any = bootstrap.start_slack_app(
            settings,
            bootstrap.slack_services(database, settings, clock),
            clock,
            database=database,
        )
        try:
            url = f"{handle.url}{settings.slack.http.path}"
            self.say(f"Slack app        {url} (HTTP mode, signatures verified)")
            self.step("A day passes at the help desk (simulated)")
            events = zendesk.advance(minutes=20 * 60)
            self.say(
                "New activity: "
                + ", ".join(f"{count} {kind.replace('_', ' ')}" for kind, count in events.items())
            )
            unhappy = self._recently_solved_unrated(zendesk)
            if unhappy is not None:
                zendesk.rate(unhappy, "bad", comment="Still waiting for my refund. Third time.")
                self.say(f'A customer rates ticket #{unhappy} bad: "Still waiting for my refund."')
            self.sync(settings, database, clock, zendesk, "Incremental sync")
            self.followups(settings, database, clock, slack, url)
            self.digest(settings, database, clock, slack)
            self.shoutouts(settings, database, clock, slack)
            from deskbot.demo_qa import qa_scene

            qa_scene(self, settings, database, clock, slack, url)
            run_nps_scene(self, settings, database, clock, slack, url)
            forecast_scene(self, settings, database, clock, slack)
            self.slash_commands(slack, url)
            calibration_scene(self, slack, url)
        finally:
            handle.stop()

    # -- steps ------------------------------------------------------------------------------

    def sync(
        self,
        settings: Settings,
        database: Any,
        clock: SandboxClock,
        zendesk: ZendeskSandbox,
        title: str,
    ) -> None:
        from deskbot.cli.sync_cmd import bar_progress

        self.step(title)
        before = dict(zendesk.counters)
        began = time.monotonic()
        with bar_progress(self.console) as progress:
            summary = bootstrap.run_sync(settings, database, clock, self.stop, progress=progress)
        seconds = time.monotonic() - began
        requests = zendesk.counters["requests"] - before["requests"]
        limited = zendesk.counters["rate_limited"] - before["rate_limited"]
        streams = ", ".join(f"{s['rows']:,} {n}" for n, s in summary["streams"].items())
        self.record(
            title,
            f"{streams} in {seconds:.1f} s through zenpy; {requests} requests paced under the "
            f"(time-scaled) rate limit, {limited} answered 429",
        )

    def followups(
        self, settings: Settings, database: Any, clock: SandboxClock, slack: SlackSandbox, url: str
    ) -> None:
        self.step("Bad CSAT: every bad rating gets an owner")
        summary = bootstrap.run_followups(settings, database, clock)
        self.record(
            "followups",
            f"{summary.get('opened', 0)} follow-ups opened for new bad ratings "
            f"({summary.get('steps_done', 0)} steps: notes, tags, owners, Slack alerts), "
            f"{summary.get('closed', 0)} closed because the rating turned good again",
        )
        self.show(slack, "csat-alerts")
        alert = self._first_alert(slack)
        if alert is None:
            self.say("No bad rating arrived today, so there is nothing to claim.")
            return
        ts, claim, handled = alert
        # A lead who is not the rated agent: the one who was rated may not close their own
        # follow-up (PRODUCT.md, who may do what).
        rated = _rated_agent(_message(slack, "csat-alerts", ts) or {})
        lead = next(name for name in [*LEADS, ADMIN] if slack.user_id(name) != rated)
        delivery = slack.click_button(
            url,
            message_ts=ts,
            channel="csat-alerts",
            action_id="followup_claim",
            value=claim,
            user_id=lead,
        )
        if delivery.status != 200:
            self.result.ok = False
        self._await_alert(slack, ts, "Claimed by")
        self.record("claim", f"{lead} clicked Claim (HTTP {delivery.status}); the alert now reads:")
        self.show_ts(slack, "csat-alerts", ts)
        slack.click_button(
            url,
            message_ts=ts,
            channel="csat-alerts",
            action_id="followup_handled",
            value=handled,
            user_id=lead,
        )
        view = self._wait_for(lambda: slack.views[-1] if slack.views else None)
        if view is None:
            self.say("[yellow]The Handled modal did not open.[/yellow]")
            self.result.ok = False
            return
        slack.submit_view(
            url,
            view_id=view["view"]["id"],
            values={"followup_note": {"note": "Called the customer; refund issued."}},
            user_id=lead,
        )
        self._await_alert(slack, ts, "Handled by")
        self.record("handled", f"{lead} marked it handled with a note; the alert now reads:")
        self.show_ts(slack, "csat-alerts", ts)

    def _await_alert(self, slack: SlackSandbox, ts: str, words: str) -> None:
        """Wait until the alert ``ts`` shows ``words``; the demo fails if it never does."""

        def reads() -> bool | None:
            message = _message(slack, "csat-alerts", ts)
            return True if message and words in "\n".join(_message_lines(message)) else None

        if self._wait_for(reads) is None:
            self.say(f"[yellow]The alert never showed {words!r}.[/yellow]")
            self.result.ok = False

    def show_ts(self, slack: SlackSandbox, channel: str, ts: str, lines: int = 10) -> None:
        """The message ``ts`` in ``channel`` as it reads now (after updates)."""
        message = _message(slack, channel, ts)
        if message is not None:
            self._print_message(message, lines)

    def show(self, slack: SlackSandbox, channel: str, lines: int = 10) -> None:
        """The latest message in ``channel``, as the transcript renders it."""
        messages = [m for m in slack.messages(channel) if not m.get("thread_ts")]
        if messages:
            self._print_message(messages[-1], lines)

    def _print_message(self, message: dict[str, Any], lines: int) -> None:
        text = [part for line in _message_lines(message) for part in line.split("\n")]
        shown = text[:lines] + (["…"] if len(text) > lines else [])
        for line in shown:
            self.console.print(f"    │ {line}", markup=False, emoji=False, highlight=False)

    def _recently_solved_unrated(self, zendesk: ZendeskSandbox) -> int | None:
        solved = [
            t
            for t in zendesk.state.tickets.values()
            if t.status == "solved" and t.solved_at is not None and not t.rating_id
        ]
        latest = max(solved, key=lambda t: (t.solved_at or 0, t.id), default=None)
        return latest.id if latest is not None else None

    def _first_alert(self, slack: SlackSandbox) -> tuple[str, str, str] | None:
        for message in slack.messages("csat-alerts"):
            values: dict[str, str] = {}
            for block in message.get("blocks") or []:
                for element in block.get("elements", []) if block.get("type") == "actions" else []:
                    values[element.get("action_id", "")] = element.get("value", "")
            if "followup_claim" in values:
                return message["ts"], values["followup_claim"], values.get("followup_handled", "")
        return None

    def _wait_for(self, probe: Callable[[], Any], seconds: float = 5.0) -> Any:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            found = probe()
            if found is not None:
                return found
            self.stop.wait(0.05)
        return None

    def digest(
        self, settings: Settings, database: Any, clock: SandboxClock, slack: SlackSandbox
    ) -> None:
        self.step("The morning digest")
        outcome = bootstrap.run_digest(
            settings, "support-daily", clock.now(), database=database, clock=clock
        )
        chart = "with its chart" if outcome.chart_file else "without a chart"
        self.record(
            "digest", f"daily digest {outcome.status} to #support-leads ({chart}), {outcome.key}"
        )
        self.show(slack, "support-leads", lines=14)
        again = bootstrap.run_digest(
            settings, "support-daily", clock.now(), database=database, clock=clock
        )
        self.record("digest again", f"the job ran again: {again.status}, nothing new posted")

    def shoutouts(
        self, settings: Settings, database: Any, clock: SandboxClock, slack: SlackSandbox
    ) -> None:
        self.step("Hero shout-outs")
        run = bootstrap.run_shoutouts(settings, clock.now(), database=database, clock=clock)
        self.record(
            "shoutouts",
            f"{len(run.posted)} good ratings with comments celebrated in #shoutouts; "
            f"{len(run.skipped)} held back by the daily cap and the per-agent gap",
        )
        hero = bootstrap.run_hero_of_the_week(settings, clock.now(), database=database, clock=clock)
        self.record("hero", f"hero of the week: {len(hero.posted)} post")
        self.show(slack, "shoutouts")

    def slash_commands(self, slack: SlackSandbox, url: str) -> None:
        self.step("People ask deskbot in Slack")
        for user, text in (
            (LEADS[0], "stats 7d"),
            (SUPPORT_PEOPLE[0], "me"),
            (LEADS[0], "csat"),
            (SUPPORT_PEOPLE[1], "statz"),
            (SUPPORT_PEOPLE[1], "config reload"),
        ):
            seen = len(slack.messages())
            delivery = slack.send_slash_command(url, text=text, user_id=user)
            if delivery.status != 200:
                self.result.ok = False
            self.record(
                f"/deskbot {text}",
                f"{user}: /deskbot {text} → acknowledged in {delivery.ack_seconds * 1000:.0f} ms",
            )
            self._wait_for(_more_messages_than(slack, seen), seconds=3)
            answers = slack.messages()[seen:]
            if answers:
                self._print_message(answers[-1], lines=8)

    # -- the end ----------------------------------------------------------------------------

    def summary(self, zendesk: ZendeskSandbox, slack: SlackSandbox) -> None:
        self.step("Summary")
        table = Table(title="What deskbot posted in the Slack sandbox")
        table.add_column("channel")
        table.add_column("messages", justify="right")
        counts: dict[str, int] = {}
        for message in slack.messages():
            name = str(message.get("channel_name") or message.get("channel"))
            counts[name] = counts.get(name, 0) + 1
        for name, count in sorted(counts.items()):
            table.add_row(name, str(count))
        self.console.print(table)
        writes = len(zendesk.writes)
        self.say(f"Zendesk writes (notes, tags, assignments, follow-up tickets): {writes}")
        self.say(f"Transcripts: {self.result.transcript_dir}")
        for image in self.result.images:
            self.say(f"Chart image: {image}")
        status = "[green]done[/green]" if self.result.ok else "[red]finished with problems[/red]"
        self.say(f"Demo {status} in {self.result.seconds:.0f} s.")

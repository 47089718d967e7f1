"""Internal NPS use cases: plan a round, send its asks (paced, in local hours), take answers
and comments, remind, expire, release results per department, follow up through the
department's owner, and report. Rules: ``deskbot.domain.nps``; storage: ``NpsStore``
(``adapters/db/nps_store.py``); Slack: ``NpsMessenger`` (``adapters/slack/nps_notifier.py``).

Exactly once across crashes and replicas:

* a round is planned once: its row and all its asks are inserted in one transaction keyed by
  the round id (the trigger's local minute); the plan is persisted before anything is sent;
* an ask is sent once: a compare-and-set claim (planned -> sending), an intent in the action
  ledger (``nps:ask:{id}``) before the post, the post carries that key as a marker, and a run
  that finds the intent pending looks for the marker in the DM before posting again; a claim a
  dead sender left behind is taken over after ``CLAIM_TIMEOUT``;
* a reminder likewise (``nps:remind:{id}``); an expiry is a compare-and-set, and its message
  update is safe to repeat;
* a release is one transaction closing the round (compare-and-set); what follows it (owner
  summary, comments, report channel, shout-outs) is keyed in the ledger per cell and per comment.

Logs never carry a person together with a score or a comment.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime, time, timedelta
from functools import partial
from zoneinfo import ZoneInfo

from deskbot.domain import nps
from deskbot.domain.authz import Actor, Forbidden
from deskbot.domain.nps import (
    NpsInputError,
    ReleasedCell,
    RoundPlan,
    RoundRules,
    SendWindow,
)
from deskbot.domain.people import DepartmentInfo, Role
from deskbot.errors import DeskbotError
from deskbot.log import get_logger
from deskbot.ports import ActionLedger, Clock, PeopleDirectory, PostedMessage, StopEvent
from deskbot.services.nps_ports import (
    AskLike,
    AskView,
    CellLike,
    ChartRenderer,
    CommentView,
    DepartmentResult,
    NewAsk,
    NpsMessenger,
    NpsReport,
    NpsStore,
    Outcome,
    ReplyView,
    StoryHook,
    TickSummary,
)
from deskbot.settings import NpsSettings, Settings

log = get_logger(__name__)

CLAIM_TIMEOUT = timedelta(minutes=10)
RESULTS_LOOKBACK = timedelta(days=30)
REPLY_MAX_CHARS = 3000


# --------------------------------------------------------------------------------------------
# The service
# --------------------------------------------------------------------------------------------


def send_window(cfg: NpsSettings) -> SendWindow:
    def hhmm(value: str) -> time:
        h, m = value.split(":")
        return time(int(h), int(m))

    return SendWindow(
        quiet_start=hhmm(cfg.quiet_hours_start),
        quiet_end=hhmm(cfg.quiet_hours_end),
        working_days=frozenset(nps.WEEKDAYS.index(d) for d in cfg.working_days),
    )


def round_id_for(when: datetime, tz: ZoneInfo) -> str:
    """A round's id: the local minute it stands for (same on every replica)."""
    return when.astimezone(tz).strftime("%Y-%m-%dT%H:%M")


class NpsService:
    def __init__(
        self,
        settings: Settings,
        store: NpsStore,
        directory: PeopleDirectory,
        ledger: ActionLedger,
        clock: Clock,
        messenger: NpsMessenger | None = None,
        *,
        stories: StoryHook | None = None,
        chart: ChartRenderer | None = None,
    ) -> None:
        self.settings = settings
        self.cfg = settings.nps
        self.store = store
        self.directory = directory
        self.ledger = ledger
        self.clock = clock
        self.messenger = messenger
        self.stories = stories
        self.chart = chart
        self.window = send_window(self.cfg)

    # -- helpers --------------------------------------------------------------------------

    def _need_messenger(self) -> NpsMessenger:
        if self.messenger is None:
            raise DeskbotError(
                "internal NPS sends its asks and results through Slack: set slack.enabled "
                "and DESKBOT_SLACK_BOT_TOKEN"
            )
        return self.messenger

    def _tz_of(self, slack_user_id: str) -> ZoneInfo:
        person = self.directory.by_slack_id(slack_user_id)
        return nps.zone(person.tz if person else None, self.settings.tz)

    def _view(self, ask: AskLike) -> AskView:
        return AskView(
            ask_id=ask.id,
            department=ask.department,
            question=self.cfg.question.replace("{department}", ask.department),
            expires_at=ask.expires_at,
            tz=self._tz_of(ask.slack_user_id),
        )

    def _rated_departments(self) -> list[DepartmentInfo]:
        departments = self.directory.departments()
        if self.cfg.departments:
            wanted = {d.lower() for d in self.cfg.departments}
            departments = [d for d in departments if d.name.lower() in wanted]
        return departments

    def _rules(self) -> RoundRules:
        return RoundRules(
            cooldown_days=self.cfg.cooldown_days,
            max_asks_per_quarter=self.cfg.max_asks_per_person_per_quarter,
            per_round_cap=self.cfg.per_round_cap,
            seed=self.cfg.seed,
            departments_per_round=self.cfg.departments_per_round,
        )

    def resolve_department(self, name: str) -> DepartmentInfo:
        dept = self.directory.department(name)
        if dept is None:
            known = ", ".join(sorted(d.name for d in self.directory.departments())) or "none"
            raise NpsInputError(f"There is no department named {name!r}. Known: {known}.")
        return dept

    # -- planning -------------------------------------------------------------------------

    def plan(self, now: datetime, round_id: str | None = None) -> RoundPlan:
        """Who would be asked in a round starting ``now`` (nothing is stored)."""
        quarter = nps.quarter_of(now.astimezone(self.settings.tz).date())
        return nps.plan_round(
            round_id=round_id or round_id_for(now, self.settings.tz),
            now=now,
            people=self.directory.people(include_inactive=True),
            departments=self._rated_departments(),
            history=self.store.ask_history(quarter),
            opted_out=self.store.opted_out(),
            rules=self._rules(),
            default_tz=self.settings.tz,
            window=self.window,
            department_load=self.store.department_load(quarter),
        )

    def start_round(self, fire_time: datetime) -> tuple[RoundPlan, bool]:
        """Plan the round standing for ``fire_time`` and persist it (all asks, before any is
        sent); (plan, created). A second call for the same trigger creates nothing."""
        now = self.clock.now()
        round_id = round_id_for(fire_time, self.settings.tz)
        plan = self.plan(now, round_id)
        expire = timedelta(hours=self.cfg.expire_after_hours)
        asks = [
            NewAsk(a.slack_user_id, a.department, a.send_at, a.send_at + expire) for a in plan.asks
        ]
        close_at = max((a.expires_at for a in asks), default=now)
        created = self.store.create_round(round_id, plan.quarter, now, close_at, asks)
        log.info(
            "nps.round_planned" if created else "nps.round_exists",
            round=round_id,
            asks=len(asks),
            departments=len(plan.counts()),
        )
        return plan, created

    # -- the tick: sends, reminders, expiries, releases -----------------------------------

    def tick(self, stop: StopEvent | None = None) -> TickSummary:
        summary = TickSummary()
        now = self.clock.now()
        summary.expired += self.store.expire_unsent(now)
        self._send_due(summary, stop)
        if summary.stopped:
            return summary
        self._remind(summary, stop)
        self._expire(summary)
        self._release(summary)
        self._post_results(summary, stop)
        return summary

    def _pause(self) -> None:
        self.clock.sleep(60.0 / self.cfg.dms_per_minute)

    def _send_due(self, summary: TickSummary, stop: StopEvent | None) -> None:
        messenger = self._need_messenger()
        first = True
        while True:
            now = self.clock.now()
            due = self.store.due_sends(now, now - CLAIM_TIMEOUT, 200)
            progressed = False
            for ask in due:
                if stop is not None and stop.is_set():
                    summary.stopped = True
                    return
                if not self.window.allowed(now.astimezone(self._tz_of(ask.slack_user_id))):
                    summary.deferred_quiet += 1  # e.g. a restart at night: wait for morning
                    continue
                if not self.store.claim_send(ask, now):
                    continue  # another replica has it
                progressed = True
                if not first:
                    self._pause()
                first = False
                try:
                    resumed = self._send_one(messenger, ask)
                except Exception as exc:  # one failed DM must not stop the round
                    self.store.unclaim_send(ask.id)
                    summary.errors.append(f"ask: {type(exc).__name__}: {exc}")
                    log.warning("nps.send_failed", ask=ask.id, error=str(exc))
                    continue
                if resumed:
                    summary.resumed += 1
                else:
                    summary.sent += 1
                now = self.clock.now()
            if not progressed:
                return

    def _send_one(self, messenger: NpsMessenger, ask: AskLike) -> bool:
        """Post the ask once; True when an earlier run had already posted it."""
        key = f"nps:ask:{ask.id}"
        record = self.ledger.begin(key, "nps_ask", None, {"round": ask.round_id})
        posted: PostedMessage | None = None
        resumed = False
        if record.status == "done" and record.result:
            posted = PostedMessage(str(record.result["channel"]), str(record.result["ts"]))
            resumed = True
        elif not record.new:
            found = messenger.find_marked(ask.slack_user_id, key, ask.send_at - timedelta(hours=1))
            posted = found.get(key)
            resumed = posted is not None
        if posted is None:
            posted = messenger.send_ask(ask.slack_user_id, self._view(ask), key)
        self.ledger.complete(key, {"channel": posted.channel, "ts": posted.ts})
        self.store.mark_sent(ask.id, self.clock.now(), posted.channel, posted.ts)
        log.info("nps.ask_sent", ask=ask.id, resumed=resumed)
        return resumed

    def _remind(self, summary: TickSummary, stop: StopEvent | None) -> None:
        messenger = self._need_messenger()
        now = self.clock.now()
        due = self.store.due_reminders(now, now - timedelta(hours=self.cfg.reminder_after_hours))
        for ask in due:
            if stop is not None and stop.is_set():
                summary.stopped = True
                return
            if not self.window.allowed(now.astimezone(self._tz_of(ask.slack_user_id))):
                continue
            if ask.reminder is None and not self.store.set_reminder(ask.id, None, "claimed"):
                continue
            key = f"nps:remind:{ask.id}"
            record = self.ledger.begin(key, "nps_reminder", None, {})
            fresh = record.updated_at > now - CLAIM_TIMEOUT
            if not record.new and record.status == "pending" and fresh:
                continue  # another replica is sending it right now
            if record.status != "done":
                found = (
                    messenger.find_marked(ask.slack_user_id, key, ask.send_at)
                    if not record.new
                    else {}
                )
                posted = found.get(key)
                if posted is None:
                    if summary.reminded:
                        self._pause()
                    posted = messenger.send_reminder(ask.slack_user_id, self._view(ask), key)
                    summary.reminded += 1
                self.ledger.complete(key, {"channel": posted.channel, "ts": posted.ts})
            self.store.set_reminder(ask.id, "claimed", "sent")

    def _expire(self, summary: TickSummary) -> None:
        messenger = self._need_messenger()
        now = self.clock.now()
        for ask in self.store.due_expiries(now):
            if ask.status == "sent":
                if not self.store.expire(ask.id):
                    continue  # answered at the last moment, or another replica
                summary.expired += 1
            try:
                for channel, ts in self._messages_of(ask):
                    messenger.show_expired(channel, ts, self._view(ask))
            except Exception as exc:  # shown next tick (the update is safe to repeat)
                summary.errors.append(f"expiry: {exc}")
                continue
            self.store.expiry_shown(ask.id)

    def _messages_of(self, ask: AskLike) -> list[tuple[str, str]]:
        """The ask's DM and its reminder (both carry the buttons)."""
        out = []
        if ask.dm_channel and ask.message_ts:
            out.append((ask.dm_channel, ask.message_ts))
        reminder = self.ledger.get(f"nps:remind:{ask.id}")
        result = reminder.result if reminder is not None else None
        if result and result.get("channel") and result.get("ts"):
            out.append((str(result["channel"]), str(result["ts"])))
        return out

    def _release(self, summary: TickSummary) -> None:
        now = self.clock.now()
        threshold = self.cfg.anonymity_threshold
        for round_id in self.store.closable_rounds(now):
            for cell in self.store.release_round(round_id, threshold, now):
                if cell.released:
                    summary.released_cells += 1
                else:
                    summary.withheld_cells += 1
            log.info("nps.round_released", round=round_id)
        current = nps.quarter_of(now.astimezone(self.settings.tz).date())
        open_quarters = {r.quarter for r in self.store.rounds() if r.status == "open"}
        for quarter in self.store.held_quarters():
            if quarter < current and quarter not in open_quarters:
                for cell in self.store.release_pools(quarter, threshold, now):
                    if cell.released:
                        summary.released_cells += 1
                    else:
                        summary.withheld_cells += 1

    # -- follow up fast: results, comments, shout-outs ------------------------------------

    def _once(
        self, key: str, target: str, since: datetime, post: Callable[[], PostedMessage]
    ) -> bool:
        """Post once under ``key`` (ledger intent, marker look-up on a rerun); True if posted
        now."""
        record = self.ledger.begin(key, "nps_post", None, {})
        if record.status == "done":
            return False
        if not record.new:
            found = self._need_messenger().find_marked(target, key, since)
            if key in found:
                self.ledger.complete(key, {"ts": found[key].ts, "found": True})
                return False
        posted = post()
        self.ledger.complete(key, {"channel": posted.channel, "ts": posted.ts})
        return True

    def _post_results(self, summary: TickSummary, stop: StopEvent | None) -> None:
        self._need_messenger()
        now = self.clock.now()
        since = now - RESULTS_LOOKBACK
        for cell in self.store.cells(released=None, since=since):
            if stop is not None and stop.is_set():
                summary.stopped = True
                return
            try:
                self._post_cell(cell, summary, since, now)
            except Exception as exc:  # the next tick resumes (ledger intents, markers)
                summary.errors.append(f"results of {cell.department}: {exc}")
                log.warning("nps.results_not_posted", department=cell.department, error=str(exc))

    def _post_cell(
        self, cell: CellLike, summary: TickSummary, since: datetime, now: datetime
    ) -> None:
        messenger = self._need_messenger()
        threshold = self.cfg.anonymity_threshold
        dept = self.directory.department(cell.department)
        owner = dept.owner_slack_id if dept else None
        period = _cell_label(cell.cell)
        base = f"nps:result:{cell.department}:{cell.cell}"
        targets = [t for t in (owner, self.cfg.report_channel) if t]
        for target in targets:
            key = f"{base}:{target}"
            if not cell.released:
                if cell.answered == 0:
                    continue
                posted = self._once(
                    key,
                    target,
                    since,
                    partial(
                        messenger.send_withheld, target, cell.department, period, threshold, key
                    ),
                )
            else:
                result = self.department_result(cell.department, [cell], period)
                posted = self._once(
                    key,
                    target,
                    since,
                    partial(messenger.send_results, target, result, threshold, key),
                )
                if posted and target == owner and self.chart is not None:
                    trend = self.department_result(cell.department, None, "trend")
                    png = self.chart(trend)
                    if png:
                        messenger.upload_chart(target, png, f"eNPS trend: {cell.department}")
            summary.posts += int(posted)
        if not cell.released or owner is None:
            return
        for answer in self.store.answers_in(cell.department, cell.cell):
            if not answer.comment:
                continue
            view = CommentView(
                answer_id=answer.id,
                department=answer.department,
                period=period,
                score=answer.score,
                comment=answer.comment,
                flagged=nps.category(answer.score) is nps.Category.DETRACTOR,
                discussed=answer.discussed,
            )
            key = f"nps:comment:{answer.id}"
            summary.posts += int(
                self._once(
                    key,
                    owner,
                    since,
                    partial(messenger.send_comment, owner, view, key),
                )
            )
            promoter = nps.category(answer.score) is nps.Category.PROMOTER
            if promoter and answer.may_share and self.stories is not None:
                self.stories(
                    story_id=answer.id,
                    department=answer.department,
                    comment=answer.comment,
                    now=now,
                )

    # -- people's actions (every one checks the actor) ------------------------------------

    def answer(self, actor: Actor, ask_id: str, raw_score: object) -> Outcome:
        """A score button: recorded once, for the ask's own recipient, while it is open."""
        try:
            score = nps.check_score(raw_score)
        except NpsInputError as exc:
            return Outcome(False, str(exc))
        now = self.clock.now()
        result, box_id = self.store.record_answer(ask_id, actor.slack_user_id, score, now)
        messages = {
            "unknown": "I can't find this survey; nothing was recorded.",
            "not_yours": "This survey was sent to someone else, so only they can answer it. "
            "Nothing was recorded.",
            "answered": "You have already answered this survey; your first answer stands.",
            "expired": "This survey has expired, so the answer was not recorded. Thank you anyway!",
            "not_sent": "This survey is not open; nothing was recorded.",
        }
        if result != "ok":
            return Outcome(False, messages[result])
        ask = self.store.ask(ask_id)
        if self.messenger is not None and ask is not None:
            try:
                for channel, ts in self._messages_of(ask):
                    self.messenger.show_answered(channel, ts, self._view(ask), score)
            except Exception as exc:  # the answer is recorded; the buttons update later
                log.warning("nps.answered_not_shown", error=str(exc))
        return Outcome(
            True,
            "Thank you! Your answer is recorded anonymously. You may add a comment.",
            box_id,
            ask,
        )

    def comment(
        self, actor: Actor, ask_id: str, box_id: str, text: str | None, may_share: bool
    ) -> Outcome:
        try:
            comment = nps.check_comment(text)
        except NpsInputError as exc:
            return Outcome(False, str(exc))
        if comment is None:
            return Outcome(True, "")
        result = self.store.add_comment(box_id, ask_id, actor.slack_user_id, comment, may_share)
        return {
            "ok": Outcome(True, "Thank you, your comment is saved anonymously."),
            "closed": Outcome(False, "This round has closed; the comment was not saved."),
            "not_yours": Outcome(False, "This survey was sent to someone else; nothing saved."),
            "already": Outcome(False, "You have already left a comment on this answer."),
        }[result]

    def opt_out(self, actor: Actor) -> str:
        changed, cancelled = self.store.set_opt_out(actor.slack_user_id, True, self.clock.now())
        if not changed:
            return "You had already opted out of internal NPS surveys."
        extra = " Your pending survey was cancelled." if cancelled else ""
        return "You will not get internal NPS surveys any more." + extra + " `optin` to return."

    def opt_in(self, actor: Actor) -> str:
        changed, _ = self.store.set_opt_out(actor.slack_user_id, False, self.clock.now())
        if not changed:
            return "You are already taking part in internal NPS surveys."
        return "Welcome back: you may be asked in a future round."

    def _may_see(self, actor: Actor, department: DepartmentInfo) -> bool:
        return actor.at_least(Role.LEAD) or actor.slack_user_id == department.owner_slack_id

    def _require_owner(self, actor: Actor, department: str) -> DepartmentInfo:
        dept = self.resolve_department(department)
        if actor.slack_user_id != dept.owner_slack_id:
            raise Forbidden(f"act on comments about {dept.name}", f"{dept.name}'s owner")
        return dept

    def check_reply_allowed(self, actor: Actor, answer_id: str) -> None:
        answer = self.store.answer(answer_id)
        if answer is None:
            raise NpsInputError("I can't find this comment.")
        self._require_owner(actor, answer.department)

    def reply_to_author(self, actor: Actor, answer_id: str, text: str) -> str:
        """The department's owner answers a comment; the reply reaches its author by DM,
        and neither learns who the other is beyond "the owner of D"."""
        text = _check_reply(text)
        answer = self.store.answer(answer_id)
        if answer is None:
            raise NpsInputError("I can't find this comment.")
        self._require_owner(actor, answer.department)
        recipient = self.store.reply_recipient(answer_id)
        if recipient is None:
            raise NpsInputError("This comment cannot be answered (its author is unreachable).")
        self._need_messenger().send_reply(
            recipient, ReplyView(answer_id, answer.department, text, to_author=True)
        )
        return "Your reply was sent to the comment's author, who stays anonymous to you."

    def reply_to_owner(self, actor: Actor, answer_id: str, text: str) -> str:
        text = _check_reply(text)
        answer = self.store.answer(answer_id)
        recipient = self.store.reply_recipient(answer_id) if answer is not None else None
        if answer is None or recipient != actor.slack_user_id:
            raise Forbidden("answer in this thread", "the comment's author")
        dept = self.resolve_department(answer.department)
        if not dept.owner_slack_id:
            raise NpsInputError(f"{dept.name} has no owner to reply to.")
        self._need_messenger().send_reply(
            dept.owner_slack_id, ReplyView(answer_id, answer.department, text, to_author=False)
        )
        return f"Sent to {dept.name}'s owner; your name was not shown."

    def mark_discussed(self, actor: Actor, answer_id: str) -> CommentView:
        answer = self.store.answer(answer_id)
        if answer is None:
            raise NpsInputError("I can't find this comment.")
        dept = self.resolve_department(answer.department)
        if not self._may_see(actor, dept):
            raise Forbidden(f"mark comments about {dept.name}", f"{dept.name}'s owner or leads")
        self.store.mark_discussed(answer_id)
        return CommentView(
            answer.id,
            answer.department,
            _cell_label(answer.cell),
            answer.score,
            answer.comment or "",
            nps.category(answer.score) is nps.Category.DETRACTOR,
            True,
        )

    # -- results --------------------------------------------------------------------------

    def department_result(
        self, department: str, cells: Sequence[CellLike] | None, period: str
    ) -> DepartmentResult:
        """A department's figures over whole released cells (all of them when ``cells`` is
        None): eNPS and CI, P/P/D, response rate, trend per cell and per quarter."""
        threshold = self.cfg.anonymity_threshold
        chosen = (
            list(cells)
            if cells is not None
            else list(self.store.cells(department=department, released=None))
        )
        shown = [c.released_cell() for c in chosen if c.released]
        withheld = sum(1 for c in chosen if not c.released and c.answered > 0)
        quarters: dict[str, list[ReleasedCell]] = {}
        for c in shown:
            quarters.setdefault(c.quarter, []).append(c)
        per_quarter = []
        for q, cs in sorted(quarters.items()):
            agg = nps.aggregate(cs, threshold)
            if agg is not None:
                per_quarter.append((q, agg.enps, agg.n))
        trend = []
        for c in shown:
            agg = nps.aggregate([c], threshold)
            if agg is not None:
                trend.append((_cell_label(c.cell), agg.enps))
        return DepartmentResult(
            department=department,
            period=period,
            result=nps.aggregate(shown, threshold),
            asked=sum(c.asked for c in shown),
            answered=sum(c.answered for c in shown),
            trend=trend,
            quarters=per_quarter,
            withheld_cells=withheld,
        )

    def report(
        self, actor: Actor, department: str | None = None, period: str | None = None
    ) -> NpsReport:
        """Released results only; leads and admins see every department, an owner their own."""
        now = self.clock.now()
        quarters, label = parse_nps_period(period, now, self.settings.tz)
        if department is not None:
            departments = [self.resolve_department(department)]
            if not self._may_see(actor, departments[0]):
                raise Forbidden(
                    f"see NPS results of {departments[0].name}",
                    f"leads, admins and {departments[0].name}'s owner",
                )
        else:
            departments = [d for d in self.directory.departments() if self._may_see(actor, d)]
            if not departments:
                raise Forbidden("see NPS results", "leads, admins and department owners")
        results = []
        for dept in sorted(departments, key=lambda d: d.name):
            cells = self.store.cells(department=dept.name, quarters=quarters, released=None)
            results.append(self.department_result(dept.name, cells, label))
        return NpsReport(label, self.cfg.anonymity_threshold, results)

    def summary_for_owners(self, fire_time: datetime) -> int:
        """The scheduled per-department summary DM to each owner (once per department and
        fire time). Returns how many were posted."""
        messenger = self._need_messenger()
        posted = 0
        threshold = self.cfg.anonymity_threshold
        stamp = round_id_for(fire_time, self.settings.tz)
        for dept in self.directory.departments():
            if not dept.owner_slack_id:
                continue
            result = self.department_result(dept.name, None, "all released rounds")
            if result.result is None:
                continue
            key = f"nps:summary:{dept.name}:{stamp}"
            owner = dept.owner_slack_id
            posted += int(
                self._once(
                    key,
                    owner,
                    fire_time - timedelta(days=1),
                    partial(messenger.send_results, owner, result, threshold, key),
                )
            )
        return posted


def _check_reply(text: str | None) -> str:
    if text is None or not text.strip():
        raise NpsInputError("A reply needs some text.")
    if len(text) > REPLY_MAX_CHARS:
        raise NpsInputError(f"A reply can be at most {REPLY_MAX_CHARS} characters.")
    return text


def _cell_label(cell: str) -> str:
    kind, _, rest = cell.partition(":")
    return f"round {rest}" if kind == "round" else f"{rest} (pooled rounds)"


def parse_nps_period(
    period: str | None, now: datetime, tz: ZoneInfo
) -> tuple[list[str] | None, str]:
    """Quarters a report covers: ``quarter`` (default), ``last-quarter``, ``year`` (the last
    four quarters), ``all``, or a quarter such as ``2026-Q4``."""
    day = now.astimezone(tz).date()
    current = nps.quarter_of(day)

    def back(q: str, steps: int) -> str:
        year, n = int(q[:4]), int(q[-1])
        index = year * 4 + (n - 1) - steps
        return f"{index // 4}-Q{index % 4 + 1}"

    p = (period or "quarter").strip().lower()
    if p in ("quarter", "this-quarter"):
        return [current], current
    if p == "last-quarter":
        q = back(current, 1)
        return [q], q
    if p == "year":
        qs = [back(current, i) for i in range(3, -1, -1)]
        return qs, f"{qs[0]}..{qs[-1]}"
    if p == "all":
        return None, "all"
    if re.fullmatch(r"\d{4}-q[1-4]", p):
        q = p.upper()
        return [q], q
    raise NpsInputError(
        f"Unknown period {period!r}: use quarter, last-quarter, year, all or e.g. 2026-Q4."
    )


__all__ = [
    "AskView",
    "CommentView",
    "DepartmentResult",
    "NewAsk",
    "NpsMessenger",
    "NpsReport",
    "NpsService",
    "NpsStore",
    "Outcome",
    "ReplyView",
    "TickSummary",
    "parse_nps_period",
    "round_id_for",
    "send_window",
]

"""Agent QA: cycles, stratified sampling, the stratified estimator, reviewer assignment. Pure.

See docs/qa.md for the design in plain words. Summary:

- A **cycle** is a local calendar week (Monday 00:00) or month in the configured timezone,
  half-open ``[start, end)``; its key is ``2026-W49`` or ``2026-11``.
- The **population** of an agent in a cycle is their tickets solved in the window, not deleted,
  never sampled before. Each ticket falls in exactly one **stratum**, by a fixed priority:
  bad CSAT > reopened > long resolution > many replies > rest; a risk stratum whose quota is 0
  is no stratum (its tickets are in ``rest``).
- **Sampling** is stratified simple random sampling without replacement. The allocation is
  deterministic given the stratum sizes ``N_h``: each risk stratum gets ``min(quota, N_h)``
  (keeping one place for ``rest`` when it has tickets), the rest stratum gets what is left
  of ``samples_per_agent`` (capped by its size), and any shortfall is filled from the risk
  strata in priority order. Within a stratum the ``n_h`` tickets with the smallest keys
  ``sha256("{seed}:{cycle}:{agent}:{ticket}")`` are taken: a
  uniformly random subset, reproducible in any language, independent of row order.
- The **estimate** of an agent's QA score is ``Σ_h W_h ȳ_h`` with ``W_h = N_h / N`` over the
  strata that have at least one scored review (a stratum whose reviews are all N/A or missing is
  left out and the weights renormalised — reported as ``coverage``). Its variance is
  ``Σ_h W_h² (1 - n_h/N_h) s_h² / n_h`` (finite-population correction). A stratum with a
  single scored review has no ``s_h²`` of its own: it borrows the pooled within-stratum variance
  of the agent's other strata, or, when no stratum has two reviews, the variance of all the
  agent's scored reviews in the cycle; with one review in all there is no interval. The 95%
  interval is ``estimate ± t_{0.975, df} · √V``, clipped to 0-100, where ``df`` is
  Satterthwaite's (rounded down): ``V² / Σ_h (v_h² / df_h)`` with ``v_h`` the stratum's term
  of ``V`` and ``df_h = k_h - 1`` (the pooled degrees of freedom for a borrowing stratum).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from deskbot.domain.metrics import local_midnight
from deskbot.errors import DeskbotError

CycleKind = Literal["weekly", "monthly"]
STRATA: tuple[str, ...] = ("bad_csat", "reopened", "long_resolution", "many_replies", "rest")
RISK_STRATA: tuple[str, ...] = STRATA[:-1]
STRATUM_LABELS: dict[str, str] = {
    "bad_csat": "bad CSAT",
    "reopened": "reopened",
    "long_resolution": "long resolution",
    "many_replies": "many replies",
    "rest": "random",
}


class CycleError(DeskbotError):
    """A cycle key that cannot be understood."""


# --------------------------------------------------------------------------------------------
# Cycles
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cycle:
    """One QA cycle: local days ``[start_day, end_day)`` in ``tz``."""

    key: str
    kind: CycleKind
    start_day: date
    end_day: date
    tz: str

    @property
    def start(self) -> datetime:
        return local_midnight(self.start_day, ZoneInfo(self.tz))

    @property
    def end(self) -> datetime:
        return local_midnight(self.end_day, ZoneInfo(self.tz))

    @property
    def index(self) -> int:
        """A running number (weeks or months since 1970): consecutive cycles differ by one."""
        if self.kind == "weekly":
            return (self.start_day - date(1969, 12, 29)).days // 7
        return self.start_day.year * 12 + self.start_day.month - 1

    def previous(self) -> Cycle:
        return cycle_containing(self.kind, self.start_day - timedelta(days=1), self.tz)

    def next(self) -> Cycle:
        return cycle_containing(self.kind, self.end_day, self.tz)


def cycle_containing(kind: CycleKind, day: date, tz: str) -> Cycle:
    """The cycle that contains local day ``day``."""
    if kind == "weekly":
        start = day - timedelta(days=day.weekday())
        iso = start.isocalendar()
        return Cycle(f"{iso.year}-W{iso.week:02d}", kind, start, start + timedelta(days=7), tz)
    start = day.replace(day=1)
    end = (start + timedelta(days=32)).replace(day=1)
    return Cycle(f"{start.year}-{start.month:02d}", kind, start, end, tz)


def last_complete_cycle(kind: CycleKind, now: datetime, tz: str) -> Cycle:
    """The newest cycle that has ended by ``now`` (the one a cycle run samples)."""
    today = now.astimezone(ZoneInfo(tz)).date()
    return cycle_containing(kind, today, tz).previous()


_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def parse_cycle(key: str, tz: str) -> Cycle:
    """``2026-W49`` (ISO week) or ``2026-11`` (month); a clear error otherwise."""
    key = key.strip()
    m = _WEEK.match(key)
    try:
        if m:
            monday = date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
            return cycle_containing("weekly", monday, tz)
        m = _MONTH.match(key)
        if m:
            return cycle_containing("monthly", date(int(m.group(1)), int(m.group(2)), 1), tz)
    except ValueError as exc:
        raise CycleError(f"no such cycle {key!r}: {exc}") from None
    raise CycleError(f"cannot read cycle {key!r}; use an ISO week like 2026-W49 or a month 2026-11")


# --------------------------------------------------------------------------------------------
# Strata and sampling
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """One ticket of an agent's population, with what decides its stratum."""

    ticket_id: int
    bad_csat: bool = False
    reopens: int = 0
    full_resolution_minutes: float | None = None
    replies: int = 0


@dataclass(frozen=True)
class StrataRules:
    long_resolution_hours: float = 72.0
    many_replies: int = 6


def stratum_of(
    candidate: Candidate, rules: StrataRules, active: Collection[str] = RISK_STRATA
) -> str:
    """The first ``active`` risk stratum (in priority order) the ticket belongs to, else
    ``rest``. A risk stratum without a quota is not a stratum: its tickets are in ``rest``."""
    if "bad_csat" in active and candidate.bad_csat:
        return "bad_csat"
    if "reopened" in active and candidate.reopens > 0:
        return "reopened"
    minutes = candidate.full_resolution_minutes
    if (
        "long_resolution" in active
        and minutes is not None
        and minutes > rules.long_resolution_hours * 60
    ):
        return "long_resolution"
    if "many_replies" in active and candidate.replies >= rules.many_replies:
        return "many_replies"
    return "rest"


def allocate(
    sizes: Mapping[str, int], quotas: Mapping[str, int], samples_per_agent: int
) -> dict[str, int]:
    """``n_h`` per stratum; a deterministic function of the stratum sizes ``N_h``.

    Risk strata get ``min(quota, N_h)`` in priority order, keeping one place for ``rest``
    when it has tickets (so every stratum with tickets is sampled and the estimate covers the
    whole population); ``rest`` gets what is left (up to its size); any remaining shortfall is
    filled from the risk strata in priority order. Σ n_h = ``min(samples_per_agent, N)``."""
    n = {h: 0 for h in STRATA}
    budget = samples_per_agent
    reserve = 1 if sizes.get("rest", 0) > 0 else 0
    for h in RISK_STRATA:
        take = max(0, min(quotas.get(h, 0), sizes.get(h, 0), budget - reserve))
        n[h] = take
        budget -= take
    take = min(budget, sizes.get("rest", 0))
    n["rest"] = take
    budget -= take
    for h in RISK_STRATA:
        if budget <= 0:
            break
        more = min(budget, sizes.get(h, 0) - n[h])
        n[h] += more
        budget -= more
    return n


def sample_key(seed: int, cycle: str, agent_id: int, ticket_id: int) -> bytes:
    """The random key a ticket is ranked by inside its stratum (smallest keys are sampled)."""
    return hashlib.sha256(f"{seed}:{cycle}:{agent_id}:{ticket_id}".encode()).digest()


@dataclass(frozen=True)
class SampledTicket:
    ticket_id: int
    agent_id: int
    stratum: str
    stratum_size: int  # N_h
    stratum_sample: int  # n_h
    population: int  # N: the agent's population this cycle


def sample_agent(
    candidates: Iterable[Candidate],
    *,
    agent_id: int,
    cycle: str,
    seed: int,
    samples_per_agent: int,
    quotas: Mapping[str, int],
    rules: StrataRules,
) -> list[SampledTicket]:
    """The stratified sample of one agent in one cycle, ordered by stratum then ticket id.

    ``candidates`` must already exclude tickets sampled in earlier cycles. Duplicate ticket ids
    are collapsed (the first wins)."""
    by_stratum: dict[str, list[int]] = {h: [] for h in STRATA}
    seen: set[int] = set()
    active = frozenset(h for h in RISK_STRATA if quotas.get(h, 0) > 0)
    for c in candidates:
        if c.ticket_id in seen:
            continue
        seen.add(c.ticket_id)
        by_stratum[stratum_of(c, rules, active)].append(c.ticket_id)
    sizes = {h: len(ids) for h, ids in by_stratum.items()}
    alloc = allocate(sizes, quotas, samples_per_agent)
    total = len(seen)
    out: list[SampledTicket] = []
    prefix = f"{seed}:{cycle}:{agent_id}:"
    for h in STRATA:
        n_h = alloc[h]
        if n_h == 0:
            continue
        ids = by_stratum[h]
        if n_h < len(ids):
            ids = sorted(ids, key=lambda t: hashlib.sha256(f"{prefix}{t}".encode()).digest())
            ids = ids[:n_h]
        for t in sorted(ids):
            out.append(SampledTicket(t, agent_id, h, sizes[h], n_h, total))
    return out


# --------------------------------------------------------------------------------------------
# The estimator
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScoredUnit:
    """One sampled ticket for the estimator: its stratum, N_h, n_h and the review score (0-100,
    ``None`` when not reviewed or all N/A)."""

    stratum: str
    stratum_size: int
    stratum_sample: int
    score: float | None


@dataclass(frozen=True)
class Estimate:
    estimate: float | None  # Σ W_h ȳ_h on 0-100
    ci_low: float | None
    ci_high: float | None
    std_error: float | None
    n: int  # scored reviews used
    sampled: int  # sampled tickets
    unweighted_mean: float | None
    coverage: float  # share of the population (by N_h) in strata with a scored review
    strata: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # h: (N_h, n_h, k_h)
    df: int | None = None  # the degrees of freedom of the interval's t quantile

    def to_json(self) -> dict[str, object]:
        def r(x: float | None) -> float | None:
            return None if x is None else round(x, 2)

        return {
            "score": r(self.estimate),
            "ci95": [r(self.ci_low), r(self.ci_high)] if self.ci_low is not None else None,
            "std_error": r(self.std_error),
            "n": self.n,
            "sampled": self.sampled,
            "unweighted_mean": r(self.unweighted_mean),
            "coverage": round(self.coverage, 4),
            "df": self.df,
        }


_T975 = (
    12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
    2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
    2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423,
)  # fmt: skip


def t_quantile_975(df: int) -> float:
    """Student's t 97.5% quantile: the table to 4 decimals for df ≤ 30, then the
    Cornish-Fisher expansion (error < 1e-4)."""
    if 1 <= df <= len(_T975):
        return _T975[df - 1]
    z = 1.959963984540054
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    return z + g1 / df + g2 / df**2 + g3 / df**3


def _variance(values: Sequence[float]) -> float:
    m = sum(values) / len(values)
    return sum((v - m) ** 2 for v in values) / (len(values) - 1)


def stratified_estimate(units: Iterable[ScoredUnit]) -> Estimate:
    """The stratified (Hájek) estimate of the mean review score, with a 95% interval."""
    per: dict[str, list[float]] = {}
    sizes: dict[str, tuple[int, int]] = {}
    sampled = 0
    for u in units:
        sampled += 1
        sizes.setdefault(u.stratum, (u.stratum_size, u.stratum_sample))
        if u.score is not None:
            per.setdefault(u.stratum, []).append(float(u.score))
    all_scores = [s for vs in per.values() for s in vs]
    n = len(all_scores)
    total_n = sum(size for size, _ in sizes.values())
    strata_info = {h: (sizes[h][0], sizes[h][1], len(per.get(h, []))) for h in sizes}
    if n == 0 or total_n == 0:
        return Estimate(None, None, None, None, 0, sampled, None, 0.0, strata_info)
    covered = sum(sizes[h][0] for h in per)
    estimate = sum(sizes[h][0] / covered * (sum(v) / len(v)) for h, v in per.items())
    unweighted = sum(all_scores) / n
    # the variance each stratum uses: its own, else pooled within-stratum, else overall
    multi = [v for v in per.values() if len(v) >= 2]
    pooled_df = sum(len(v) - 1 for v in multi)
    pooled: float | None
    if pooled_df > 0:
        pooled = sum((len(v) - 1) * _variance(v) for v in multi) / pooled_df
    elif n >= 2:
        pooled = _variance(all_scores)
    else:
        pooled = None
    pooled_dof = pooled_df if pooled_df > 0 else n - 1
    var = 0.0
    dof_denominator = 0.0
    defined = True
    for h, v in per.items():
        size = sizes[h][0]
        k = len(v)
        w = size / covered
        fpc = max(0.0, 1.0 - k / size) if size > 0 else 0.0
        if fpc == 0.0:
            continue
        s2 = _variance(v) if k >= 2 else pooled
        if s2 is None:
            defined = False
            break
        term = w * w * fpc * s2 / k
        var += term
        dof_denominator += term * term / (k - 1 if k >= 2 else pooled_dof)
    if not defined:
        return Estimate(
            estimate, None, None, None, n, sampled, unweighted, covered / total_n, strata_info
        )
    se = math.sqrt(var)
    # Satterthwaite's degrees of freedom for a sum of independent variance estimates
    dof = var * var / dof_denominator if dof_denominator > 0 else float(max(1, n - 1))
    df = max(1, math.floor(dof + 1e-9))  # rounded down: the conservative side
    half = t_quantile_975(df) * se
    return Estimate(
        estimate,
        max(0.0, estimate - half),
        min(100.0, estimate + half),
        se,
        n,
        sampled,
        unweighted,
        covered / total_n,
        strata_info,
        df,
    )


# --------------------------------------------------------------------------------------------
# Reviewer assignment
# --------------------------------------------------------------------------------------------


class AssignmentError(DeskbotError):
    """No reviewer can take a task (e.g. the only reviewer is the agent)."""


@dataclass(frozen=True)
class TaskToAssign:
    key: int  # the sample id (or ticket id): stable order
    agent: str  # the agent's Slack id (never their own reviewer)


def assign_reviewers(
    tasks: Sequence[TaskToAssign],
    reviewers: Sequence[str],
    *,
    cycle_index: int,
    previous: Mapping[str, Iterable[str]] | None = None,
    loads: Mapping[str, int] | None = None,
) -> dict[int, str]:
    """Task key → reviewer. Balanced (max - min ≤ 1 whenever no-self-review allows it), never
    self-review, rotating: each agent's preference order shifts with ``cycle_index`` and
    ``previous`` (agent → their reviewers last cycle) is avoided when loads tie.

    ``loads`` are reviewers' tasks already held (reassignment balances against them)."""
    pool = sorted(set(reviewers))
    if not pool:
        raise AssignmentError("no reviewers configured")
    load = {r: int((loads or {}).get(r, 0)) for r in pool}
    prev = {a: set(rs) for a, rs in (previous or {}).items()}
    agents = sorted({t.agent for t in tasks})
    agent_pos = {a: i for i, a in enumerate(agents)}
    # the most constrained first: agents who are reviewers themselves, then by task key
    order = sorted(tasks, key=lambda t: (t.agent not in load, t.agent, t.key))
    out: dict[int, str] = {}
    if len(pool) == 1 and any(t.agent == pool[0] for t in tasks):
        raise AssignmentError(
            f"no reviewer for {pool[0]}'s tickets: the only reviewer is the agent"
        )
    prefs: dict[str, list[str]] = {}
    for t in order:
        pref = prefs.get(t.agent)
        if pref is None:
            shift = (agent_pos[t.agent] + cycle_index) % len(pool)
            pref = prefs[t.agent] = [r for r in pool[shift:] + pool[:shift] if r != t.agent]
        avoid = prev.get(t.agent, ())
        # the least loaded, then not last cycle's reviewer, then the agent's preference order
        low = min(load[r] for r in pref)
        best = next((r for r in pref if load[r] == low and r not in avoid), None)
        if best is None:
            best = next(r for r in pref if load[r] == low)
        out[t.key] = best
        load[best] += 1
    # repair: move tasks from the most to the least loaded reviewer while that is allowed
    agent_of = {t.key: t.agent for t in tasks}
    for _ in range(len(tasks) * len(pool) + 1):
        hi = max(pool, key=lambda r: (load[r], r))
        lo = min(pool, key=lambda r: (load[r], r))
        if load[hi] - load[lo] <= 1:
            break
        movable = sorted(k for k, r in out.items() if r == hi and agent_of[k] != lo)
        if not movable:
            break
        out[movable[-1]] = lo
        load[hi] -= 1
        load[lo] += 1
    return out


def due_at(cycle: Cycle, due_days: int) -> datetime:
    return (cycle.end + timedelta(days=due_days)).astimezone(UTC)


def closes_at(cycle: Cycle, close_days: int) -> datetime:
    return (cycle.end + timedelta(days=close_days)).astimezone(UTC)

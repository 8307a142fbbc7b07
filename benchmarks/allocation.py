"""Allocation study: K* of every policy on every workload, cool-off scopes, and reuse gaps.

    .venv/bin/python benchmarks/allocation.py            (about forty minutes)
    .venv/bin/python benchmarks/allocation.py --no-docs --window 32    (another quarantine window)
    .venv/bin/python benchmarks/allocation.py --late-calls-only       (the late calls alone: seconds)

Runs the simulator (``maskline.sim``, the server's own allocation order, in memory) and writes
the section of docs/allocation.md between the markers below:

1. realistic workloads without cool-off: Δ, K* per policy (median over --seeds traces), K*/Δ,
   against the target K* ≤ Δ+1;
2. the adversarial traces: K* per policy against the 2Δ−1 guarantee;
3. every realistic workload with a per-party cool-off of --cooloff seconds: K* per policy against
   the target K* ≤ Δ_held+1;
4. per-party against global cool-off of the same length, on every realistic workload, for the
   server's policies: K* of each scope and the saving, against the target of 30% fewer numbers;
   and, for first-fit on the workloads whose sessions last hours, the saving at other lengths;
5. reuse gaps: how long before a number comes back to a party it served, first-fit against the
   quarantine policy, both at a pool of 1.2 × first-fit's K*, on every realistic workload, and
   the pool at which quarantine's median gap reaches 10 × first-fit's.

and, between its own markers, the late calls: per realistic workload and policy, at 1.2 ×
first-fit's K*, the share of late calls (10 min, 1 h, 6 h, 24 h after a session ends) that reach
someone else, over both sides and per side (median over --late-seeds traces), without cool-off and
with a per-party cool-off of --cooloff seconds, and their plot.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from harness import ROOT
from harness.report import docs_options, docs_target, markers, produced, publish, revision

from maskline.domain.allocation import CooloffScope
from maskline.sim import workloads
from maskline.sim.misroutes import DELAYS, HOUR, SIDES
from maskline.sim.replay import POLICIES, replay, trace_sizing
from maskline.sim.report import SLACK, LateCalls, Row, late_calls, misroute_table, simulate, table
from maskline.sim.trace import pools

DOCS = ROOT / "docs" / "allocation.md"
PLOT = ROOT / "docs" / "allocation-kstar.png"
LATE_PLOT = ROOT / "docs" / "allocation-misroutes.png"
BEGIN, END = markers(__file__)
LATE_BEGIN = "<!-- BEGIN benchmarks/allocation.py, late calls: generated, do not edit by hand -->"
LATE_END = "<!-- END benchmarks/allocation.py, late calls -->"
HOURS_LONG = ("ride-hailing", "food-delivery", "geo-split")  # sessions of hours: cool-off matters
SERVER_POLICIES = ("first_fit", "quarantine", "least_recent")
LENGTHS = (300, 900, 1800, 3600)  # cool-off lengths compared on the hours-long workloads
MULTIPLES = (1.2, 1.5, 2.0, 3.0)  # pool sizes, × first-fit's K*, for the reuse gaps


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(share * len(ordered)), len(ordered) - 1)] if ordered else float("nan")


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:,.0f} min"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--cooloff", type=int, default=1800)
    docs_options(p, DOCS)
    p.add_argument("--late-seeds", type=int, default=3, help="traces per workload for the late calls")
    p.add_argument("--late-calls-only", action="store_true", help="only the late calls (seconds)")
    args = p.parse_args()
    began = time.monotonic()
    seeds = list(range(1, args.seeds + 1))
    scope = CooloffScope.PER_PARTY

    late_seeds = list(range(1, args.late_seeds + 1))
    late = late_calls(workloads.REALISTIC, list(POLICIES), late_seeds, scope)
    cooled = late_calls(workloads.REALISTIC, list(SERVER_POLICIES), late_seeds, scope, cooloff=args.cooloff)
    slacks = {s: late_calls(workloads.REALISTIC, ["quarantine"], late_seeds, scope, slack=s) for s in SLACKS}
    drawn = plot_late(late, LATE_PLOT) if not args.no_docs else False
    publish(late_report(args, late, cooled, slacks, drawn), docs_target(args), LATE_BEGIN, LATE_END)
    if args.late_calls_only:
        print(f"total time {time.monotonic() - began:.0f} s")
        return 0

    realistic = simulate(workloads.REALISTIC, list(POLICIES), seeds, scope)
    print(table(realistic), flush=True)
    adversarial = simulate(workloads.ADVERSARIAL, list(POLICIES), [1], scope, optimum=True)
    print(table(adversarial), flush=True)
    small = simulate(workloads.SMALL, list(POLICIES), seeds, scope, optimum=True)
    print(table(small), flush=True)
    held = simulate(workloads.REALISTIC, list(POLICIES), seeds, scope, cooloff=args.cooloff)
    print(table(held), flush=True)

    cooling = [
        scopes(name, policy, args.cooloff, seeds)
        for name in workloads.REALISTIC
        for policy in SERVER_POLICIES
    ]
    lengths = [scopes(name, "first_fit", c, seeds) for name in HOURS_LONG for c in LENGTHS]
    gaps = [reuse_gaps(name, seeds) for name in workloads.REALISTIC]

    plotted = plot([*realistic, *small, *adversarial], PLOT) if not args.no_docs else False
    section = report(args, realistic, adversarial, small, held, cooling, lengths, gaps, plotted)
    publish(section, docs_target(args), BEGIN, END)
    print(f"total time {time.monotonic() - began:.0f} s")
    return 0


@dataclass(frozen=True)
class Scopes:
    """K* of one workload and policy under each cool-off scope of one length (median of seeds)."""

    workload: str
    policy: str
    cooloff: int
    per_party: int
    global_: int

    @property
    def saving(self) -> float:
        return 1 - self.per_party / self.global_


def scopes(name: str, policy: str, cooloff: int, seeds: list[int]) -> Scopes:
    sized: dict[CooloffScope, list[int]] = {scope: [] for scope in CooloffScope}
    for seed in seeds:
        trace = [s.with_cooloff(cooloff) for s in workloads.REALISTIC[name](seed)]
        for scope, found in sized.items():
            found.append(trace_sizing(trace, POLICIES[policy], scope, (seed,)).k_star)
    result = Scopes(
        name,
        policy,
        cooloff,
        statistics.median_low(sized[CooloffScope.PER_PARTY]),
        statistics.median_low(sized[CooloffScope.GLOBAL]),
    )
    print(result, flush=True)
    return result


@dataclass(frozen=True)
class Gaps:
    """Reuse gaps of one workload over the seeds: first-fit's and quarantine's at 1.2 × first-fit's
    K*, and quarantine's median at each pool of MULTIPLES."""

    workload: str
    first_fit: list[float]
    quarantine: list[float]
    refused: int
    medians: dict[float, float]  # pool multiple: quarantine's median gap

    @property
    def ratio(self) -> float:
        return statistics.median(self.quarantine) / statistics.median(self.first_fit)

    def reaches(self, times: float) -> float | None:
        """The smallest pool multiple at which quarantine's median gap is ``times`` first-fit's."""
        bar = times * statistics.median(self.first_fit)
        return next((m for m, gap in self.medians.items() if gap >= bar), None)


def reuse_gaps(name: str, seeds: list[int]) -> Gaps:
    """First-fit does the same at any pool of at least its K*: its gaps are taken at 1.2 × K*."""
    first_fit, quarantine = POLICIES["first_fit"], POLICIES["quarantine"]
    at: dict[float, list[float]] = {m: [] for m in MULTIPLES}
    ff_gaps: list[float] = []
    refused = 0
    for seed in seeds:
        for part in pools(workloads.REALISTIC[name](seed)).values():
            k = trace_sizing(part, first_fit, CooloffScope.PER_PARTY).k_star
            for multiple, found in at.items():
                size = int(multiple * k + 0.999)
                q = replay(part, size, quarantine)
                found += q.gaps
                if multiple == MULTIPLES[0]:
                    ff = replay(part, size, first_fit)
                    ff_gaps += ff.gaps
                    refused += ff.refused + q.refused
    # No gap at all: quarantine never brought a number back to a party within the trace.
    medians = {m: statistics.median(g) if g else math.inf for m, g in at.items()}
    result = Gaps(name, ff_gaps, at[MULTIPLES[0]], refused, medians)
    print(name, "gaps", statistics.median(ff_gaps), result.medians, flush=True)
    return result


def plot(rows: list[Row], path: Path) -> bool:
    """K* against Δ for every workload and policy, with the Δ and 2Δ−1 lines (needs matplotlib:
    pip install -e '.[bench]'); False when it cannot be drawn."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot (pip install -e '.[bench]')", file=sys.stderr)
        return False
    figure, axes = plt.subplots(figsize=(7, 5), dpi=110)
    top = max(r.delta for r in rows)
    deltas = [1, top * 1.1]
    axes.plot(deltas, deltas, color="black", linewidth=1, label="Δ (lower bound)")
    axes.plot(
        deltas,
        [2 * d - 1 for d in deltas],
        color="black",
        linestyle="--",
        linewidth=1,
        label="2Δ−1 (Plivo's rule)",
    )
    markers = {"first_fit": "o", "least_recent": "s", "random": "^", "best_fit": "D", "quarantine": "x"}
    for policy, marker in markers.items():
        mine = [r for r in rows if r.policy == policy]
        axes.scatter(
            [r.delta for r in mine], [r.k_star for r in mine], marker=marker, label=policy, alpha=0.8
        )
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("Δ: most concurrent sessions of one party")
    axes.set_ylabel("K*: smallest pool with no refusal")
    axes.set_title("K* against Δ, every workload and policy")
    axes.legend(fontsize=8)
    axes.grid(True, which="both", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return True


def plot_late(rows: list[LateCalls], path: Path) -> bool:
    """Misroutes against the delay after a session's end, one panel per workload, one line per
    policy; False when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot (pip install -e '.[bench]')", file=sys.stderr)
        return False
    names = list(dict.fromkeys(r.workload for r in rows))
    figure, panels = plt.subplots(2, 4, figsize=(12, 6), dpi=110, sharey=True)
    flat = list(panels.flat)
    for axes, name in zip(flat, names, strict=False):
        for r in rows:
            if r.workload != name:
                continue
            shown = [(d, r.rates[None, d]) for d in DELAYS if r.rates[None, d] is not None]
            axes.plot(
                [d / HOUR for d, _ in shown],
                [100 * (rate or 0) for _, rate in shown],
                marker="o",
                label=r.policy,
            )
        axes.set_xscale("log")
        axes.set_xticks([d / HOUR for d in DELAYS], [_delay(d) for d in DELAYS])
        axes.set_title(name, fontsize=10)
        axes.grid(True, alpha=0.3)
    for axes in flat[len(names) :]:
        axes.axis("off")
    flat[0].set_ylabel("late calls that reach someone else (%)")
    flat[4].set_ylabel("late calls that reach someone else (%)")
    handles, labels = flat[0].get_legend_handles_labels()
    flat[-1].legend(handles, labels, loc="center")
    figure.suptitle(f"Late calls misrouted, by delay after the session's end ({SLACK} × first-fit's K*)")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return True


def _delay(seconds: int) -> str:
    return f"{seconds // HOUR} h" if seconds >= HOUR else f"{seconds // 60} min"


SLACKS = (1.0, 1.1, 1.2, 1.3, 1.5, 2.0)  # pools, as multiples of first-fit's K*, of the slack table


def slack_table(slacks: dict[float, list[LateCalls]]) -> list[str]:
    """Quarantine's late calls misrouted an hour and six hours on, per workload and pool size."""
    names = [r.workload for r in slacks[SLACKS[0]]]

    def cell(rows: list[LateCalls], name: str) -> str:
        [row] = [r for r in rows if r.workload == name]
        rates = (row.rates[None, d] for d in (HOUR, 6 * HOUR))
        return " / ".join("–" if rate is None else f"{rate:.2%}" for rate in rates)

    return [
        "| workload |" + "".join(f" {s:g} × K* |" for s in SLACKS),
        "|---|" + "---:|" * len(SLACKS),
        *(f"| {name} |" + "".join(f" {cell(slacks[s], name)} |" for s in SLACKS) for name in names),
    ]


def late_report(args, late, cooled, slacks, plotted) -> str:  # type: ignore[no-untyped-def]
    def at_hour(policy: str, rows: list[LateCalls]) -> str:
        rates = [r.rates[None, HOUR] for r in rows if r.policy == policy]
        known = [rate for rate in rates if rate is not None]
        return f"{statistics.median(known):.1%}" if known else "–"

    lines = [
        LATE_BEGIN,
        "## Measured: late calls that reach a stranger",
        "",
        produced(revision()) + f". Median over seeds 1–{args.late_seeds} (each seed a new trace); every "
        f"workload replayed at {SLACK} × first-fit's K* of each pool (the numbers column, summed over "
        "pools). For every ended session and each of its parties, at each delay after its end, the share "
        "of cases where that party then holds a live session on the same number with someone else; a "
        "case counts only while the trace still has traffic (no later than its last session start), "
        "hence – where no session ends that long before it ([Late calls](#late-calls)).",
        "",
        "### Both sides, no cool-off",
        "",
        misroute_table(late),
        "",
        "Median over the workloads, an hour after the end: "
        + "; ".join(f"{p} {at_hour(p, late)}" for p in POLICIES)
        + ".",
        "",
        "Late calls counted per workload (both sides, first-fit, median of the seeds): the traces of "
        "ride-hailing, food delivery and geo-split have 8 hours of traffic, so few sessions end six "
        "hours before their last start and none a day before.",
        "",
        "| workload |" + "".join(f" {_delay(d)} |" for d in DELAYS),
        "|---|" + "---:|" * len(DELAYS),
        *(
            f"| {r.workload} |" + "".join(f" {r.cases[d]:,} |" for d in DELAYS)
            for r in late
            if r.policy == "first_fit"
        ),
        "",
        "### Per side, no cool-off",
        "",
        "The busy side is the party with more sessions in the trace (driver, courier, agent, mostly the "
        "seller), the other side its counterpart.",
        "",
        misroute_table(late, SIDES),
        "",
        f"### Both sides, per-party cool-off of {_minutes(args.cooloff)}",
        "",
        "The same traces, every session holding its number against its two parties for the cool-off "
        f"after it ends (the pool is again {SLACK} × first-fit's K*, which the cool-off raises).",
        "",
        misroute_table(cooled),
        "",
        "Median over the workloads, an hour after the end: "
        + "; ".join(f"{p} {at_hour(p, cooled)}" for p in SERVER_POLICIES)
        + ".",
    ]
    lines += [
        "",
        "### What the slack buys",
        "",
        "Quarantine (the default policy) at pools of 1 to 2 × first-fit's K*, no cool-off: late calls "
        "misrouted an hour / six hours after a session's end. Each number beyond K* (the fewest with "
        "which first-fit refuses nothing) is one more a busy party can be kept off. Few sessions of the "
        "8-hour traces end six hours before their last start, so their six-hour figures are noisy.",
        "",
        *slack_table(slacks),
    ]
    if plotted:
        lines += ["", f"![Late calls misrouted by delay]({LATE_PLOT.name})"]
    lines += ["", LATE_END]
    return "\n".join(lines)


def _met(rows: list[Row], target: str) -> str:
    """Which policies meet K* ≤ (Δ or Δ_held)+1 on how many workloads."""
    out = []
    for policy in POLICIES:
        mine = [r for r in rows if r.policy == policy]
        bar = (lambda r: r.delta) if target == "Δ" else (lambda r: r.delta_held)
        missed = [f"{r.workload} (K* {r.k_star}, {target} {bar(r)})" for r in mine if r.k_star > bar(r) + 1]
        out.append(
            f"{policy} on {len(mine) - len(missed)} of {len(mine)}"
            + (f" (not on {', '.join(missed)})" if missed else "")
        )
    return f"The target K* ≤ {target}+1 is met by " + "; ".join(out) + "."


def _savings(cooling: list[Scopes]) -> list[str]:
    """The cool-off table: one row per workload, K* of each scope and the saving per policy."""
    head = "| workload |" + "".join(f" {p}: per-party / global | saving |" for p in SERVER_POLICIES)
    rule = "|---|" + "---:|---:|" * len(SERVER_POLICIES)
    lines = [head, rule]
    for name in workloads.REALISTIC:
        row = {c.policy: c for c in cooling if c.workload == name}
        lines.append(
            f"| {name} |"
            + "".join(
                f" {row[p].per_party} / {row[p].global_} | {row[p].saving:.0%} |" for p in SERVER_POLICIES
            )
        )
    lines.append("")
    for policy in SERVER_POLICIES:
        mine = [c for c in cooling if c.policy == policy]
        hours = [c.saving for c in mine if c.workload in HOURS_LONG]
        lines.append(
            f"- {policy}: median saving **{statistics.median(c.saving for c in mine):.0%}** over the "
            f"{len(mine)} workloads; **{statistics.median(hours):.0%}** over the {len(hours)} whose "
            f"sessions last hours ({', '.join(HOURS_LONG)})."
        )
    return lines


def _lengths(lengths: list[Scopes]) -> list[str]:
    head = "| workload |" + "".join(f" {_minutes(c)} |" for c in LENGTHS)
    lines = [head, "|---|" + "---:|" * len(LENGTHS)]
    for name in HOURS_LONG:
        row = {c.cooloff: c for c in lengths if c.workload == name}
        lines.append(
            f"| {name} |"
            + "".join(f" {row[c].per_party} / {row[c].global_} ({row[c].saving:.0%}) |" for c in LENGTHS)
        )
    return lines


def _gaps(gaps: list[Gaps]) -> list[str]:
    lines = [
        "| workload | first-fit median | first-fit p5 | quarantine median | quarantine p5 "
        "| ratio of medians | refusals | quarantine ×10 at |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for g in gaps:
        reached = g.reaches(10)
        lines.append(
            f"| {g.workload} | {_minutes(statistics.median(g.first_fit))} "
            f"| {_minutes(_percentile(g.first_fit, 0.05))} | {_minutes(statistics.median(g.quarantine))} "
            f"| {_minutes(_percentile(g.quarantine, 0.05))} | ×{g.ratio:.1f} | {g.refused} "
            f"| {f'{reached:.1f} × K*' if reached else f'above {MULTIPLES[-1]:.0f} × K*'} |"
        )
    met = [g.workload for g in gaps if g.ratio >= 10]
    overall = statistics.median(g.ratio for g in gaps)
    lines += [
        "",
        f"Median over the workloads of the ratio of medians: **×{overall:.1f}** "
        f"(target: ×10); at least ×10 on {len(met)} of {len(gaps)} ({', '.join(met) or 'none'}).",
    ]
    return lines


def report(args, realistic, adversarial, small, held, cooling, lengths, gaps, plotted) -> str:  # type: ignore[no-untyped-def]
    worst = max(r.k_star - r.bound for r in adversarial)
    lines = [
        BEGIN,
        "## Measured: K* by workload and policy",
        "",
        produced(revision()) + f". Median over seeds "
        f"1–{args.seeds} (each seed a new trace); K* found by replay (first-fit: the highest number it "
        "gives out; the others: bisection between Δ_held and 2Δ_held−1).",
        "",
        "### Realistic workloads, no cool-off",
        "",
        table(realistic),
        "",
        _met(realistic, "Δ"),
        "",
        "### Adversarial traces",
        "",
        table(adversarial),
        "",
        f"No policy goes above 2Δ−1 (largest K* − (2Δ−1): {worst}). First-fit reaches it on the trap, as "
        "the construction intends; the policies that spread sessions over the pool escape this trap.",
        "",
        "### Small traces: the exact optimum",
        "",
        "The optimum is the fewest numbers any fixed assignment could use, knowing the whole trace in "
        "advance (the chromatic number of the sessions' conflict graph, solved exactly with python-sat). "
        "It is the true lower bound; Δ_held is only a bound on it.",
        "",
        table(small),
        "",
        f"### Realistic workloads, per-party cool-off of {_minutes(args.cooloff)}",
        "",
        "Every session holds its number against its own two parties for the cool-off after it ends; "
        "Δ_held counts those holds.",
        "",
        table(held),
        "",
        _met(held, "Δ_held"),
        "",
        f"### Per-party against global cool-off ({_minutes(args.cooloff)})",
        "",
        "K* under each scope of the same cool-off, for the server's policies (per-party: a released "
        "number is held back from the ended session's two parties; global: from every new session).",
        "",
        *_savings(cooling),
        "",
        "First-fit on the workloads whose sessions last hours, K* per-party / global (saving) by "
        "cool-off length:",
        "",
        *_lengths(lengths),
        "",
        "### Reuse gaps at 1.2 × first-fit's K*",
        "",
        "Time from a party's session on a number ending to the next session of the same party on that "
        "number, over every placement that reuses a number for a party. The last column is the "
        f"smallest pool (of {', '.join(f'{m}' for m in MULTIPLES)} × first-fit's K*) at which "
        "quarantine's median gap is 10 × first-fit's (first-fit does the same with any pool of at "
        "least its K*).",
        "",
        *_gaps(gaps),
    ]
    if plotted:
        lines += ["", f"![K* against Δ]({PLOT.name})"]
    lines += ["", END]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())

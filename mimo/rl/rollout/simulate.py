"""Trace-driven discrete-event simulation of naive vs seamless rollout at cluster scale.

Model: ``gen_workers * slots_per_worker`` generation slots (continuous batching, ideal load
balance); a sample holds a slot for ``tokens / tokens_per_s``. Rewards: with ``async_reward``
each finished sample is a job for one of ``reward_workers``, run while generation goes on;
without it each sample's reward runs on its slot right after generation (the slot does not
generate meanwhile). Naive: rounds of ``batch_prompts`` groups, barrier, then all rewards on the
reward workers, then filter. Validation (MiMo Table 3: every rollout launched at once): naive =
all generated, then all scored; seamless = the same stream with asynchronous rewards.
Continuous/early termination as in :mod:`mimo.rl.rollout.engine` (same launch rule, FIFO
selection; aborted in-flight groups are wasted and their generation time counts as idle, as in
MiMo's accounting; not-started ones are carried to the next step). Waste is split like the
engine's: invalid groups, surplus valid groups, aborted groups.

Prompts come from a trace (JSON ``{"samples": [{"prompt_id", "tokens", "reward_s", "passed"}]}``
or a plain list of such samples; prompts are resampled) or from parametric defaults (lognormal
lengths with a per-prompt scale, variable code reward times, a mixture of pass probabilities).
Deterministic for a seed; one configuration takes about a second.
"""

from __future__ import annotations

import heapq
import json
import math
import random
from collections import deque
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from mimo.rl.rollout.metrics import format_table, table2

Sample = tuple[float, float, bool]  # (tokens, reward seconds, passed)
CONFIGS = {"naive": (False, False, False), "+continuous rollout": (True, False, False),
           "+async reward": (True, True, False), "+early termination": (True, True, True)}


@dataclass
class SimConfig:
    """Cluster and workload parameters (parametric defaults when no trace is given)."""

    gen_workers: int = 256
    slots_per_worker: int = 8
    tokens_per_s: float = 25.0  # per sequence
    reward_workers: int = 128
    batch_prompts: int = 512
    num_generations: int = 16
    steps: int = 4
    launch_slack: float = 1.0
    initial_valid_rate: float = 0.5
    prune_queued: bool = True  # as the engine: take back launched groups with no sample started
    train_tokens_per_s: float = 5.0e4  # cluster training throughput (overall speed)
    seed: int = 0
    length_median: float = 3000.0
    length_sigma: float = 0.8
    prompt_scale_sigma: float = 0.5
    max_tokens: int = 32768
    code_fraction: float = 0.4
    math_reward_s: float = 0.05
    code_reward_median_s: float = 8.0
    code_reward_sigma: float = 1.0
    code_reward_timeout_s: float = 30.0
    zero_pass_fraction: float = 0.1
    full_pass_fraction: float = 0.08


class Workload:
    """Draws prompt groups: G samples of ``(tokens, reward_s, passed)``."""

    def __init__(self, cfg: SimConfig, trace: list[list[Sample]] | None = None) -> None:
        self.cfg, self.trace = cfg, trace
        self.rng = random.Random(cfg.seed)

    def group(self) -> list[Sample]:
        c, r = self.cfg, self.rng
        if self.trace:
            prompt = r.choice(self.trace)
            return [r.choice(prompt) for _ in range(c.num_generations)]
        u = r.random()
        p = 0.0 if u < c.zero_pass_fraction else 1.0 if u < c.zero_pass_fraction + c.full_pass_fraction \
            else r.betavariate(1.0, 1.0)
        scale = c.length_median * math.exp(r.gauss(0, c.prompt_scale_sigma))
        code = r.random() < c.code_fraction
        out = []
        for _ in range(c.num_generations):
            passed = r.random() < p
            tokens = min(c.max_tokens, scale * math.exp(r.gauss(0, c.length_sigma)) * (1.0 if passed else 1.3))
            rew = min(c.code_reward_timeout_s, c.code_reward_median_s * math.exp(r.gauss(0, c.code_reward_sigma))) \
                if code else c.math_reward_s
            out.append((max(1.0, tokens), rew, passed))
        return out


def load_trace(path: str | Path) -> list[list[Sample]]:
    """Prompts of a recorded trace (samples grouped by ``prompt_id``)."""
    data = json.loads(Path(path).read_text())
    rows = data["samples"] if isinstance(data, dict) else data
    by: dict[str, list[Sample]] = {}
    for s in rows:
        by.setdefault(str(s["prompt_id"]), []).append(
            (float(s["tokens"]), float(s.get("reward_s", 0.0)), bool(s["passed"])))
    if not by:
        raise ValueError(f"{path}: no samples")
    return list(by.values())


class _Sim:
    """One configuration over ``cfg.steps`` steps."""

    def __init__(self, cfg: SimConfig, flags: tuple[bool, bool, bool], trace: list[list[Sample]] | None) -> None:
        self.cfg, (self.continuous, self.async_reward, self.early) = cfg, flags
        self.work = Workload(cfg, trace)
        self.slots = cfg.gen_workers * cfg.slots_per_worker
        self.carry: deque[list[Sample]] = deque()
        self.valid_seen, self.groups_seen = 0, 0
        self.totals = {"rollout_s": 0.0, "busy": 0.0, "generated": 0, "used": 0, "train_s": 0.0,
                       "invalid": 0, "surplus": 0, "aborted": 0}

    def rate(self) -> float:
        return (self.valid_seen + 2 * self.cfg.initial_valid_rate) / (self.groups_seen + 2)

    @staticmethod
    def valid(g: list[Sample]) -> bool:
        return len({s[2] for s in g}) > 1

    def step(self, validation: list[list[Sample]] | None = None) -> None:
        c = self.cfg
        t, seq, ev = 0.0, 0, []  # clock, tie-breaker, heap
        free, rfree = self.slots, c.reward_workers
        pending: deque[tuple[int, int]] = deque()  # (group, sample) waiting for a slot
        rqueue: deque[tuple[int, int]] = deque()  # (group, sample) waiting for a reward worker
        groups: list[list[Sample]] = []
        left: list[int] = []  # samples not yet generated
        unscored: list[int] = []  # samples not yet scored
        done: dict[int, bool] = {}  # group -> valid
        running: dict[tuple[int, int], float] = {}  # (group, sample) -> generation start
        begun: set[int] = set()  # groups with a sample started
        withdrawn: set[int] = set()  # groups taken back before any sample started (carried)
        busy = 0.0

        def push(when: float, kind: str, a: int, b: int = 0) -> None:
            nonlocal seq
            seq += 1
            heapq.heappush(ev, (when, seq, kind, a, b))

        def launch(g: list[Sample]) -> None:
            groups.append(g)
            left.append(len(g))
            unscored.append(len(g))
            pending.extend((len(groups) - 1, i) for i in range(len(g)))

        def dispatch() -> None:
            nonlocal free, rfree
            while free and pending:
                gi, si = pending.popleft()
                free -= 1
                begun.add(gi)
                running[(gi, si)] = t
                push(t + groups[gi][si][0] / c.tokens_per_s, "gen", gi, si)
            while rfree and rqueue:
                gi, si = rqueue.popleft()
                rfree -= 1
                push(t + groups[gi][si][1], "rew", gi, si)

        def finish(gi: int) -> None:
            done[gi] = self.valid(groups[gi])
            if validation is None:
                self.groups_seen += 1
                self.valid_seen += done[gi]

        def fifo() -> tuple[int, bool]:
            n = 0
            for gi in range(len(groups)):
                if gi in withdrawn:
                    continue
                if gi not in done:
                    return n, False
                n += done[gi]
                if n == c.batch_prompts:
                    return n, True
            return n, False

        def run_until(pred: Any) -> None:
            nonlocal t, free, rfree, busy
            dispatch()
            while ev and not pred():
                t, _, kind, gi, si = heapq.heappop(ev)
                if kind == "gen":
                    busy += t - running.pop((gi, si))
                    left[gi] -= 1
                    if self.async_reward or not self.continuous:
                        free += 1
                        if self.continuous:
                            rqueue.append((gi, si))
                    else:
                        push(t + groups[gi][si][1], "inline", gi, si)
                else:  # a sample scored, inline (its slot frees) or on a reward worker
                    if kind == "inline":
                        free += 1
                    else:
                        rfree += 1
                    unscored[gi] -= 1
                    if unscored[gi] == 0:
                        finish(gi)
                on_event()
                dispatch()

        def on_event() -> None:
            if validation is not None or not self.continuous:
                return
            nvalid = sum(done.values())
            active = len(groups) - len(done) - len(withdrawn)
            target = c.batch_prompts * c.launch_slack
            while nvalid + self.rate() * active < target:
                launch(self.carry.popleft() if self.carry else self.work.group())
                active += 1
            if c.prune_queued:  # take back the latest launched groups that have not started
                excess = int((nvalid + self.rate() * active - target) / self.rate())
                gone = []
                for gi in range(len(groups) - 1, -1, -1):
                    if excess < 1 or gi in begun:
                        break
                    if gi not in done and gi not in withdrawn:
                        withdrawn.add(gi)
                        gone.append(gi)
                        excess -= 1
                if gone:
                    drop = set(gone)
                    keep = [x for x in pending if x[0] not in drop]
                    pending.clear()
                    pending.extend(keep)
                    self.carry.extendleft(groups[gi] for gi in gone)

        if validation is not None:  # validation: everything once; barrier unless continuous+async
            chunk = len(validation)  # MiMo Table 3: every rollout launched at once
            for k in range(0, len(validation), chunk):
                for g in validation[k: k + chunk]:
                    launch(g)
                if not (self.continuous and self.async_reward):
                    run_until(lambda: not ev and not pending)
                    rqueue.extend((gi, si) for gi in range(len(groups)) if gi not in done
                                  for si in range(len(groups[gi])))
                run_until(lambda: len(done) == len(groups))
        elif not self.continuous:
            while sum(done.values()) < c.batch_prompts:
                for _ in range(c.batch_prompts):
                    launch(self.work.group())
                run_until(lambda: not ev and not pending)  # generate all (barrier)
                rqueue.extend((gi, si) for gi in range(len(groups)) if gi not in done
                              for si in range(len(groups[gi])))
                run_until(lambda: not ev)  # score all
        else:
            on_event()
            if self.early:
                run_until(lambda: fifo()[1])
            else:
                run_until(lambda: not ev and fifo()[0] >= c.batch_prompts)
        # abort: not-started groups are carried, in-flight ones wasted
        started = begun
        carried = [gi for gi in range(len(groups)) if gi not in done and gi not in started and gi not in withdrawn]
        self.carry.extendleft(reversed([groups[gi] for gi in carried]))
        carried += sorted(withdrawn)
        # samples still running are aborted: their generation time counts as idle (MiMo's accounting)
        used = [gi for gi in range(len(groups)) if done.get(gi)][: c.batch_prompts] if validation is None \
            else list(range(len(groups)))
        chosen = set(used)
        tot = self.totals
        tot["rollout_s"] += t
        tot["busy"] += busy
        tot["generated"] += sum(len(groups[gi]) for gi in range(len(groups)) if gi not in carried)
        tot["used"] += sum(len(groups[gi]) for gi in used)
        tot["invalid"] += sum(len(groups[gi]) for gi, ok in done.items() if not ok and gi not in chosen)
        tot["surplus"] += sum(len(groups[gi]) for gi, ok in done.items() if ok and gi not in chosen)
        tot["aborted"] += sum(len(groups[gi]) for gi in started if gi not in done)
        tot["train_s"] += sum(s[0] for gi in used for s in groups[gi]) / c.train_tokens_per_s

    def result(self) -> dict[str, float]:
        tot = self.totals
        gen = tot["generated"] or 1
        return {"rollout_s": tot["rollout_s"], "train_s": tot["train_s"],
                "idle_fraction": 1.0 - tot["busy"] / (self.slots * tot["rollout_s"]),
                "waste_fraction": 1.0 - tot["used"] / tot["generated"] if tot["generated"] else 0.0,
                "scheduling_waste_fraction": (tot["surplus"] + tot["aborted"]) / gen,
                "invalid_fraction": tot["invalid"] / gen}


def simulate(cfg: SimConfig | None = None, trace: list[list[Sample]] | None = None) -> dict[str, Any]:
    """Table 2 (the four cumulative configurations, ``cfg.steps`` steps each) and Table 3
    (validation: naive barrier vs continuous with async reward) of one workload."""
    cfg = cfg or SimConfig()
    rows = {}
    runs = [(name, flags, cfg) for name, flags in CONFIGS.items()]
    runs.append(("+early termination, no pruning", CONFIGS["+early termination"], replace(cfg, prune_queued=False)))
    for name, flags, run_cfg in runs:
        sim = _Sim(run_cfg, flags, trace)
        for _ in range(cfg.steps):
            sim.step()
        rows[name] = sim.result()
    train_s = rows["naive"]["train_s"]  # same batch size: the training work per step is comparable
    t2 = table2(rows, "naive", train_s)
    val_groups = [Workload(SimConfig(**{**asdict(cfg), "seed": cfg.seed + 1}), trace).group()
                  for _ in range(cfg.batch_prompts * 2)]
    val = {}
    for name, flags in (("naive", CONFIGS["naive"]), ("seamless", CONFIGS["+async reward"])):
        sim = _Sim(cfg, flags, trace)
        sim.step(validation=val_groups)
        val[name] = sim.result()
    return {"config": asdict(cfg), "table2": t2, "raw": rows,
            "table3": {"validation_speedup": round(val["naive"]["rollout_s"] / val["seamless"]["rollout_s"], 3),
                       "naive_s": round(val["naive"]["rollout_s"], 2),
                       "seamless_s": round(val["seamless"]["rollout_s"], 2)}}


def report(result: dict[str, Any]) -> str:
    """Text of :func:`simulate`'s tables."""
    c = result["config"]
    t3 = result["table3"]
    return (format_table(result["table2"], f"simulated: {c['gen_workers']} generation workers, "
                                           f"{c['reward_workers']} reward workers, batch {c['batch_prompts']}x"
                                           f"{c['num_generations']}, {c['steps']} steps")
            + f"\nvalidation speedup (seamless vs naive barrier): {t3['validation_speedup']:.2f}x")

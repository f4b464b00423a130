"""``rl_curves.png``: the RL run's reward and rollout-engine curves."""

from __future__ import annotations

from pathlib import Path


def save_rl_curves(history: list[dict], out_dir: Path, stage: str) -> Path | None:
    """``rl_curves.png``: reward mean and pass rate per step (steps with a skipped update marked, not
    drawn), and the rollout idle/waste fractions and the clip fraction."""
    if not history:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mimo.rl.history import mark_skipped, series, skipped_steps

    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.4), dpi=100)
    for ax, keys, marker in ((a, ("reward_mean", "pass_rate"), "o"),
                             (b, ("idle_fraction", "waste_fraction", "clip_fraction_high"), ".")):
        for key in keys:
            if points := series(history, key):
                ax.plot(*zip(*points), marker=marker, label=key.replace("_", " "))
        ax.set_xlabel("step")
        ax.xaxis.get_major_locator().set_params(integer=True)
    mark_skipped(a, skipped_steps(history))
    a.set_title(f"{stage}: reward")
    b.set_title("rollout engine / clipping")
    for ax in (a, b):
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    png = out_dir / "rl_curves.png"
    fig.tight_layout()
    fig.savefig(png)
    plt.close(fig)
    return png

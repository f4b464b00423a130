"""Loss curves saved with a checkpoint: JSON history plus a PNG plot (main and MTP losses)."""

from __future__ import annotations

import json
from pathlib import Path


def _label(key: str) -> str:
    """``loss_main`` -> ``main CE``, ``loss_mtp_1`` -> ``mtp 1 CE``."""
    return key.replace("loss_", "").replace("_", " ") + " CE"


def save_curves(history: list[dict], out_dir: str | Path, title: str) -> tuple[Path, Path | None]:
    """Write ``loss_curve.json`` and ``loss_curve.png`` (x: tokens) into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "loss_curve.json"
    json_path.write_text(json.dumps(history))
    if not history:
        return json_path, None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mimo.rl.history import series

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    mtp_keys = sorted({k for h in history for k in h if k.startswith("loss_mtp")})
    for k in ("loss_main", *mtp_keys):  # rows without the value (or without tokens) are not drawn
        if points := series(history, k, x="tokens"):
            ax.plot(*zip(*points), label=_label(k))
    ax.set_xlabel("tokens (global)")
    ax.set_ylabel("cross-entropy")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    png = out_dir / "loss_curve.png"
    fig.tight_layout()
    fig.savefig(png)
    plt.close(fig)
    return json_path, png

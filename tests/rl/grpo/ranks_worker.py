"""Run under torchrun: three GRPO steps on fixed groups, the final weights saved by rank 0 (the
trainer-ranks test compares 1 and 2 ranks)."""

import json
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

from mimo.model.presets import create_model
from mimo.rl.grpo.config import GRPOConfig
from mimo.rl.grpo.ranks import TrainerRanks
from mimo.rl.grpo.trainer import GRPOTrainer, RolloutGroup
from mimo.train.distributed import init_distributed, shutdown

SMALL = dict(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
             num_key_value_heads=1, head_dim=16)


def groups(step: int) -> list[RolloutGroup]:
    g = torch.Generator().manual_seed(step)
    out = []
    for p in range(4):
        prompt = torch.randint(1, 64, (3 + p,), generator=g).tolist()
        comps = [torch.randint(1, 64, (2 + (i * 3 + p) % 7,), generator=g).tolist() for i in range(4)]
        out.append(RolloutGroup(f"p{p}", prompt, comps, [float((i + p + step) % 2) for i in range(4)]))
    return out


def main(out: str, loss_type: str) -> None:
    torch.set_num_threads(1)
    ranks = TrainerRanks(init_distributed())
    model = create_model("tiny", stage=1, seed=0, **SMALL)
    cfg = GRPOConfig(num_generations=4, batch_prompts=4, mini_batch_prompts=2, micro_batch_samples=3,
                     learning_rate=1e-2, max_completion_length=16, loss_type=loss_type)
    trainer = GRPOTrainer(model, cfg, pad_id=0, ranks=ranks)
    history = [trainer.step(groups(step)) for step in range(3)]
    weights = ranks.full_state_dict(trainer.model)
    if ranks.is_main:
        save_file({k: v.contiguous() for k, v in weights.items()}, out)
        Path(out).with_suffix(".json").write_text(json.dumps(history))
    shutdown(ranks.ctx)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

"""A saved tiny policy for RL tests: it answers \\boxed{d} with a random digit d in 1..3, so about a
third of the rollouts are right and groups have differing rewards (what dynamic sampling keeps)."""

from pathlib import Path

from mimo.model.presets import create_model
from mimo.model.tokenizer import train_tokenizer
from mimo.problems.toy import generate_toy_problems
from mimo.rl.grpo.toy_policy import PHRASINGS, digit_problems, teach_random_digits

SMALL = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
         "num_key_value_heads": 1, "head_dim": 16}


def save_toy_policy(root: Path) -> tuple[Path, list]:
    """``root/init`` (model and tokenizer) and the digit problems it is taught on."""
    toy = [p for p in generate_toy_problems(40, 0, seed=3) if p.domain == "math"][:6]
    tok = train_tokenizer([p.prompt + "\n" + (p.solution or "") for p in toy] * 5 + ["1 2 3 " * 20], vocab_size=300)
    model = create_model("tiny", stage=1, tokenizer=tok, seed=0, **SMALL)
    problems = digit_problems(PHRASINGS[:2])
    teach_random_digits(model, tok, problems)
    model.save_pretrained(root / "init")
    tok.save_pretrained(root / "init")
    return root / "init", problems

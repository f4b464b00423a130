"""The model series of MiMo's tables and the benchmarks the pipeline knows how to evaluate."""

# series name -> checkpoint asset; each one's parent (for regression checks); display labels
SERIES = {"base": "pretrain_stage3", "sft": "sft_model", "rl_zero": "rl_zero_model", "rl": "rl_model"}
PARENT = {"sft": "base", "rl_zero": "base", "rl": "sft"}
SERIES_LABELS = {"base": "Base", "sft": "SFT", "rl_zero": "RL-Zero", "rl": "RL"}
BENCHMARKS = ("toy_heldout", "math500", "aime24", "aime25", "humaneval", "livecodebench_v5", "livecodebench_v6")
# MiMo-7B's repeats (pass@1 = mean over them); HumanEval and the toy split are not in MiMo's tables
MIMO_REPEATS = {"aime24": 32, "aime25": 32, "livecodebench_v5": 8, "livecodebench_v6": 8, "math500": 1,
                "humaneval": 1, "toy_heldout": 4}
# series name -> its evaluation asset (partitioned by benchmark)
EVAL_ASSETS = {name: f"eval_{name}" for name in SERIES}

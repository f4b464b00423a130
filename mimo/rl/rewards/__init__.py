"""Rule-based rewards ([TR] §3.2): Math-Verify for math, sandboxed tests for code.

    from mimo.rl.rewards.math import score_math
    from mimo.rl.rewards.code import score_code, isolation_info
"""

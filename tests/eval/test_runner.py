"""The resumable evaluation run: finished chunks are never redone, failed generations (a generator
that times out) are masked and counted, then regenerated alone on the next run; too many failures
stop with a clear error after saving what finished."""

import pyarrow.parquet as pq
import pytest

from mimo.eval import ReplayGenerator
from mimo.eval.runner import EvalSettings, EvaluationIncomplete, run_evaluation
from mimo.generate.base import Completion, SamplingParams
from mimo.problems.benchmarks import load_math500

SETTINGS = EvalSettings(n=2, sampling=SamplingParams(temperature=0.0, max_tokens=16), chunk_problems=4,
                        max_error_fraction=0.5)


class FlakyReplay(ReplayGenerator):
    """Answers with the reference, but times out on the prompts of ``failing`` problems; counts calls."""

    def __init__(self, problems, failing=()):
        super().__init__(problems)
        self.failing = {p.prompt for p in problems if p.id in set(failing)}
        self.prompts_seen: list[str] = []

    def generate(self, messages, params):
        user = messages[-1]["content"]
        self.prompts_seen.append(user)
        if any(p in user for p in self.failing):
            raise TimeoutError("request timed out after 120s")
        return super().generate(messages, params)


@pytest.fixture(scope="module")
def problems():
    return load_math500()[:10]


def test_failed_generations_are_masked_then_only_they_are_redone(problems, tmp_path):
    failing = [problems[1].id, problems[6].id]
    first = FlakyReplay(problems, failing)
    run = run_evaluation(problems, lambda: first, SETTINGS, tmp_path, benchmark="math500", show_progress=False)
    assert run.chunks == 3 and run.samples_generated == 20
    assert run.generation_errors == 4 and "timed out" in run.first_error
    assert run.metrics["samples"] == 16 and run.metrics["masked_generation_errors"] == 4
    assert run.metrics["avg@2"] == 1.0  # masked samples are left out, not scored 0
    assert len(list(tmp_path.glob("chunk-*.parquet"))) == 3

    second = FlakyReplay(problems)
    rerun = run_evaluation(problems, lambda: second, SETTINGS, tmp_path, benchmark="math500", show_progress=False)
    redone = {p.id for p in problems if any(p.prompt in s for s in second.prompts_seen)}
    assert redone == set(failing)  # nothing that had finished is generated again
    assert rerun.chunks_resumed == 1 and rerun.samples_resumed == 16 and rerun.samples_generated == 4
    assert rerun.generation_errors == 0 and rerun.metrics["avg@2"] == 1.0 and rerun.metrics["samples"] == 20
    assert [(r["problem_id"], r["sample_index"]) for r in rerun.rows] == [(p.id, i) for p in problems for i in range(2)]

    def must_not_load():
        raise AssertionError("a finished evaluation must not load the model")

    done = run_evaluation(problems, must_not_load, SETTINGS, tmp_path, benchmark="math500", show_progress=False)
    assert done.chunks_resumed == 3 and done.samples_generated == 0 and done.metrics == rerun.metrics


def test_too_many_failures_stop_with_a_clear_error_and_keep_the_finished_chunks(problems, tmp_path):
    broken = FlakyReplay(problems, [p.id for p in problems[:8]])
    with pytest.raises(EvaluationIncomplete, match=r"16 of 20 samples failed generation.*rerunning resumes"):
        run_evaluation(problems, lambda: broken, SETTINGS, tmp_path, benchmark="math500", show_progress=False)
    rows = pq.read_table(tmp_path / "chunk-00002.parquet").to_pylist()
    assert len(rows) == 4 and all(r["reward"] == 1.0 and r["status"] != "generation_error" for r in rows)


def test_a_chunk_file_that_does_not_match_is_redone(problems, tmp_path):
    run_evaluation(problems[:4], lambda: FlakyReplay(problems), SETTINGS, tmp_path, benchmark="math500",
                   show_progress=False)
    (tmp_path / "chunk-00000.parquet").write_bytes(b"not parquet")
    gen = FlakyReplay(problems)
    run = run_evaluation(problems[:4], lambda: gen, SETTINGS, tmp_path, benchmark="math500", show_progress=False)
    assert run.samples_generated == 8 and run.metrics["avg@2"] == 1.0


def test_empty_completion_is_scored_zero_not_masked(problems, tmp_path):
    class Silent(ReplayGenerator):
        def generate(self, messages, params):
            return [Completion("", "stop", 0) for _ in range(params.n)]

    run = run_evaluation(problems[:4], lambda: Silent(problems), SETTINGS, tmp_path, benchmark="math500",
                         show_progress=False)
    assert run.generation_errors == 0 and run.metrics["avg@2"] == 0.0

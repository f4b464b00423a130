"""Reasoning-data assets on a temp lake: counted skips, and a clear failure when nothing is usable."""

import json

import dagster as dg
import pytest

from assets.problems import evaluation_sets, reasoning_problems
from assets.synthetic import synthetic_general_responses
from resources.generator import GeneratorResource
from resources.lake import LakeResource


def _resources(tmp_path, **generator):
    return {"lake": LakeResource(root=str(tmp_path / "lake")), "generator": GeneratorResource(**generator)}


def _meta(result, asset):
    (mat,) = [m for m in result.asset_materializations_for_node(asset)]
    return {k: v.value for k, v in mat.metadata.items()}


def test_problems_and_evaluation_sets_with_malformed_file(tmp_path):
    bad = tmp_path / "problems.jsonl"
    bad.write_text('{"id": "x", "source": "s", "domain": "math", "split": "train", "prompt": "1+1?", "answer": "2"}\n'
                   '{broken\n'
                   '{"id": "y", "source": "s", "domain": "code", "split": "train", "prompt": "p", "tests": []}\n')
    run_config = {"ops": {"reasoning_problems": {"config": {"toy_math": 20, "toy_code": 10, "problem_files": [str(bad)]}},
                          "evaluation_sets": {"config": {"benchmarks": ["aime24"], "include_heldout_problems": True}}}}
    result = dg.materialize([reasoning_problems, evaluation_sets], resources=_resources(tmp_path), run_config=run_config)
    assert result.success
    meta = _meta(result, "reasoning_problems")
    assert meta["dagster/row_count"] == 31
    assert meta["skipped_by_reason"] == {"bad JSON": 1, "code problem without tests": 1}
    evals = _meta(result, "evaluation_sets")["by_source"]
    assert evals["aime24"] == 30 and evals["toy"] >= 1


def test_only_malformed_problems_fail_with_a_clear_message(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{broken\n")
    run_config = {"ops": {"reasoning_problems": {"config": {"toy_math": 0, "toy_code": 0, "problem_files": [str(bad)]}}}}
    with pytest.raises(dg.Failure, match="no usable problems"):
        dg.materialize([reasoning_problems], resources=_resources(tmp_path), run_config=run_config)


def test_general_responses_fail_clearly_when_every_sample_is_dropped(tmp_path):
    run_config = {"ops": {"synthetic_general_responses": {"config": {"num_template_queries": 5}}}}
    with pytest.raises(dg.Failure, match=r"nothing usable left.*truncated"):
        dg.materialize([synthetic_general_responses], run_config=run_config,
                       resources=_resources(tmp_path, procedural_truncate_rate=1.0))


def test_general_responses_metadata_has_yield_and_token_accounting(tmp_path):
    queries = tmp_path / "q.jsonl"
    queries.write_text(json.dumps({"id": "q1", "query": "Write a poem about snow."}) + "\n{bad\n")
    run_config = {"ops": {"synthetic_general_responses": {"config": {"num_template_queries": 4,
                                                                     "queries_file": str(queries)}}}}
    result = dg.materialize([synthetic_general_responses], run_config=run_config,
                            resources=_resources(tmp_path, procedural_truncate_rate=0.0))
    meta = _meta(result, "synthetic_general_responses")
    assert meta["queries"] == 5 and meta["skipped_query_lines"] == {"bad_json": 1}
    assert meta["yield"]["kept"] == 5 and meta["yield"]["usage"]["completion_tokens"] > 0
    assert meta["generator"]["is_model"] is False

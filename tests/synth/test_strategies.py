"""Grounded and general strategies end to end over the procedural teacher, with bad input."""

from mimo.generate.base import Completion, SamplingParams
from mimo.generate.config import ProceduralOptions
from mimo.generate.procedural import ProceduralTeacher
from mimo.synth.general import (
    GeneralConfig,
    generate_general,
    read_queries,
    template_queries,
)
from mimo.synth.grounded import GroundedConfig, generate_grounded, select_documents
from mimo.synth.samples import samples_to_table, screen_response

DOCS = [
    {"doc_id": "d1", "domain": "math", "reasoning_depth": 4.0, "title": "Sums",
     "text": "We prove that 1 + 2 = 3 in a long and careful argument with several steps here."},
    {"doc_id": "d2", "domain": "general", "reasoning_depth": 4.5, "title": "", "text": "News of the day."},
    {"doc_id": "d3", "domain": "code", "reasoning_depth": 1.0, "title": "", "text": "print(1) is short code."},
    {"doc_id": "d4", "domain": "science", "reasoning_depth": 3.0, "title": "",
     "text": "Energy is conserved, so 10 - 4 = 6 joules remain after the collision in this system."},
]


def test_select_documents_keeps_deep_stem_documents_deepest_first():
    chosen = select_documents(DOCS, GroundedConfig(min_reasoning_depth=2.5))
    assert [d["doc_id"] for d in chosen] == ["d1", "d4"]


def test_grounded_samples_carry_provenance():
    teacher = ProceduralTeacher(ProceduralOptions(truncate_rate=0))
    cfg = GroundedConfig(samples_per_document=2, params=SamplingParams(temperature=0.7, max_tokens=512))
    samples, tally = generate_grounded(teacher, select_documents(DOCS, cfg), cfg, source_artifact="art1")
    assert tally.prompts == 2 and tally.generated == 4 and tally.kept == 4
    s = samples[0]
    assert s.strategy == "grounded_analysis" and s.source_kind == "document" and s.source_id == "d1"
    assert [m["role"] for m in s.messages] == ["system", "user", "assistant"]
    assert s.generator_backend == "procedural" and s.generator_is_model is False
    assert '"temperature": 0.7' in s.sampling and s.source_artifact == "art1"
    assert samples_to_table(samples).num_rows == 4
    assert tally.usage.completion_tokens == sum(x.completion_tokens for x in samples)


def test_query_file_bad_lines_are_counted(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_bytes(b'{"id": "q1", "query": "Write a poem about rain."}\n{"id": "q2", "query": "  "}\n'
                     b'{not json\n["list"]\n{"id": "q3", "query": "caf\xe9 story"}\n')
    good, skipped = read_queries(path)
    assert [q["id"] for q in good] == ["q1", "q3"]
    assert dict(skipped) == {"missing_id_or_query": 2, "bad_json": 1}


def test_general_truncated_responses_are_dropped_and_counted():
    teacher = ProceduralTeacher(ProceduralOptions(truncate_rate=0.5, seed=1))
    queries = template_queries(30, seed=1)
    assert len({q["query"] for q in queries}) == 30
    samples, tally = generate_general(teacher, queries, GeneralConfig())
    assert tally.generated == 30 and tally.dropped["truncated"] > 5
    assert tally.kept == len(samples) == 30 - tally.dropped["truncated"]


def test_screen_response_reasons():
    ok = "<think>\nplan\n</think>\n\nanswer"
    assert screen_response(Completion(ok, "stop", 3)) is None
    assert screen_response(Completion(ok, "length", 3)) == "truncated"
    assert screen_response(Completion("", "error", 0)) == "generation_error"
    assert screen_response(Completion("  ", "stop", 0)) == "empty"
    assert screen_response(Completion("bad \ufffd bytes", "stop", 2)) == "invalid_text"
    assert screen_response(Completion("<think>\nonly thinking", "stop", 2)) == "no_final_response"
    assert screen_response(Completion("<think>x</think>\n  ", "stop", 2)) == "no_final_response"

"""Worked problems: the training split as plain pretraining documents, held-out prompts never leaked."""

from mimo.data.decontam import ngrams
from mimo.data.stage_data import render_sources
from mimo.model.tokenizer import train_tokenizer
from mimo.problems.toy import generate_toy_problems
from mimo.problems.worked import worked_documents, worked_prompt, worked_text


def test_only_training_problems_become_documents_and_overlaps_are_left_out():
    problems = generate_toy_problems(600, 40, seed=3, heldout_fraction=0.1)
    docs, removed = worked_documents(problems)
    train = [p for p in problems if p.split == "train"]
    heldout = [p for p in problems if p.split == "heldout"]
    assert len(docs) + removed == len(train) and removed > 0
    ids = {d[0] for d in docs}
    assert not ids & {f"problem:{p.id}" for p in heldout}
    held = set().union(*(ngrams(p.prompt, 16) for p in heldout))
    assert all(not (ngrams(text, 16) & held) for _, _, text in docs)
    assert {domain for _, domain, _ in docs} == {"math", "code"}


def test_document_format_is_the_prompt_then_the_solution():
    p = next(p for p in generate_toy_problems(20, 0, seed=1) if p.split == "train")
    text = worked_text(p)
    assert text.startswith(worked_prompt(p)) and text.endswith(f"\\boxed{{{p.answer}}}.")
    assert text.startswith(f"Problem: {p.prompt}\nSolution:\nStep 1: ")
    code = next(p for p in generate_toy_problems(0, 5, seed=1))
    assert worked_text(code).startswith("Task: ") and worked_text(code).rstrip().endswith("```")


def test_stage_data_sees_worked_problems_as_their_own_source():
    problems = generate_toy_problems(60, 0, seed=2, heldout_fraction=0.1)
    docs, _ = worked_documents(problems)
    tok = train_tokenizer([t for _, _, t in docs] * 2, vocab_size=300)
    corpus = [{"doc_id": "a", "text": "Some general words about gardens.", "domain": "general", "weight": 1.0}]
    tokens, mixture = render_sources(corpus, [], tok, docs)
    assert {d.source for d in mixture} == {"general", "problems"}
    assert sum(d.source == "problems" for d in mixture) == len(docs)
    assert all(tokens[d.doc_id] for d in mixture)

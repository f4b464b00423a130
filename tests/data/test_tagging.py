import pytest

from mimo.data.decontam import ContaminationIndex, load_benchmark_texts, ngrams
from mimo.data.filtering import FilterConfig, decide
from mimo.data.tagging.annotator import annotate
from mimo.data.tagging.classifier import TaggerModel, TaggerModelConfig
from mimo.data.tagging.features import approx_tokens, text_stats
from mimo.data.tagging.heuristics import HEURISTIC_FILTERS
from mimo.data.tagging.tagger import (
    ClassifierTagger,
    build_tag_messages,
    parse_tag_answer,
)

MATH = ("Let $f(x) = x^2 + 3x$. We have $f'(x) = 2x + 3$, therefore the minimum is at $x = -\\frac{3}{2}$. "
        "Since the second derivative is positive, it follows that this is a minimum. ") * 8
CODE = "Here is how to sum a list in Python:\n\n```python\ndef total(xs):\n    s = 0\n    for x in xs:\n        s += x\n    return s\n```\n\nThe loop runs once per element. " * 4
NEWS = ("The city council met on Tuesday to discuss the new park. Residents said they welcomed the plan, "
        "and the mayor promised that work would begin next spring. ") * 8


def test_text_stats_see_math_and_code():
    assert text_stats(MATH).n_formulas >= 8 and text_stats(MATH).math_density > 1
    assert text_stats(CODE).n_code_fences == 4
    assert approx_tokens("a, b.") == 4


def test_annotator_domains_and_manifest_override():
    assert annotate(MATH).domain == "math"
    assert annotate(CODE).domain == "code"
    assert annotate(NEWS).domain == "general"
    label = annotate(NEWS, manifest_domain="forum-math")
    assert (label.domain, label.label_source) == ("math", "manifest")
    assert annotate(MATH).reasoning_depth > annotate(NEWS).reasoning_depth


def test_heuristic_filters_drop_code_that_taggers_keep():
    failures = {name: fn(CODE, text_stats(CODE)) for name, fn in HEURISTIC_FILTERS.items()}
    assert failures["c4"] is not None  # C4 drops anything with a curly brace or code-like lines
    assert HEURISTIC_FILTERS["gopher"](NEWS, text_stats(NEWS)) is None


def test_classifier_learns_and_roundtrips(tmp_path):
    texts = [MATH + f" case {i}" for i in range(20)] + [CODE + f" case {i}" for i in range(20)] + [NEWS + f" day {i}" for i in range(20)]
    labels = [annotate(t) for t in texts]
    model = TaggerModel(TaggerModelConfig(epochs=15, holdout_fraction=0.25))
    report = model.fit(texts, labels)
    assert report.domain_accuracy == pytest.approx(1.0)
    model.save(str(tmp_path))
    tags = ClassifierTagger(TaggerModel.load(str(tmp_path))).tag([MATH, CODE, NEWS])
    assert [t.domain for t in tags] == ["math", "code", "general"]
    assert all(0 <= t.quality <= 5 for t in tags)


def test_llm_tagger_parsing_is_strict():
    msgs = build_tag_messages(MATH)
    assert msgs[0]["role"] == "user" and "reasoning_depth" in msgs[0]["content"]
    ok = parse_tag_answer('Sure: {"domain": "math", "quality": 4, "knowledge_density": 3.5, "reasoning_depth": 7}')
    assert (ok.domain, ok.reasoning_depth, ok.error) == ("math", 5.0, None)
    bad = parse_tag_answer("I think it is about math")
    assert bad.error and bad.error.startswith("parse_error")
    assert parse_tag_answer('{"domain": "poetry", "quality": 1, "knowledge_density": 1, "reasoning_depth": 1}').error


def test_decontamination_finds_benchmark_problems(shared_dir):
    bench = load_benchmark_texts(shared_dir)
    assert len(bench["math500"]) == 500 and len(bench["humaneval"]) == 164
    index = ContaminationIndex.build(bench)
    leak = "Homework help! " + bench["math500"][7] + " Answer below."
    assert any(h.startswith("math500:") for h in index.hits(leak))
    assert index.hits(NEWS) == [] and index.hits(MATH) == []
    assert len(ngrams("one two three", 13)) == 0


def test_filter_decisions():
    cfg = FilterConfig()
    assert decide("math", 4, 4, 4, 500, ["math500:1"], {}, cfg).reason == "contaminated"
    assert decide("math", 4, 4, 4, 10, [], {}, cfg).reason == "too_short"
    assert decide("general", 1, 1, 1, 500, [], {}, cfg).reason == "low_quality"
    kept_math = decide("math", 4, 4, 4, 500, [], {}, cfg)
    kept_news = decide("general", 4, 1, 1, 500, [], {}, cfg)
    assert kept_math.keep and kept_news.keep and kept_math.weight > kept_news.weight
    with_gopher = FilterConfig(heuristic_filters=["gopher"])
    assert decide("code", 4, 4, 4, 500, [], {"gopher": "gopher_symbol_ratio"}, with_gopher).reason.startswith("heuristic:")

"""16-gram decontamination: removals counted per benchmark; near-misses kept."""

from mimo.data.decontam import SFT_NGRAM, ContaminationIndex, decontaminate

BENCH = {"math500": ["What is the smallest positive perfect cube that can be written as the sum of "
                     "three consecutive integers?"],
         "humaneval": ["Check if in given list of numbers, are any two numbers closer to each other "
                       "than given threshold."]}


def test_removed_counted_per_benchmark_and_clean_text_kept():
    index = ContaminationIndex.build(BENCH, n=SFT_NGRAM)
    records = [
        {"id": "a", "text": "Story: " + BENCH["math500"][0].upper()},  # case-insensitive hit
        {"id": "b", "text": "Poem. " + BENCH["humaneval"][0] + " " + BENCH["math500"][0]},
        {"id": "c", "text": "what is the smallest positive perfect cube that can be written as the sum"},  # 15 words
        {"id": "d", "text": "A poem about rain."},
    ]
    kept, report = decontaminate(records, index, lambda r: r["text"])
    assert [r["id"] for r in kept] == ["c", "d"]
    assert report.removed == 2 and report.checked == 4
    assert dict(report.removed_by_benchmark) == {"math500": 2, "humaneval": 1}
    assert {e["id"] for e in report.to_metadata()["examples"]} == {"a", "b"}


def test_ngram_size_is_configurable():
    text = "the sum of three consecutive integers is a multiple of three"
    assert ContaminationIndex.build({"x": [text]}, n=5).hits("so the sum of three consecutive numbers")
    assert not ContaminationIndex.build({"x": [text]}, n=16).hits(text)  # shorter than 16 words

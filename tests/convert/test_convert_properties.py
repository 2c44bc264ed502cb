"""Property-based tests of every reader: generated and mutated inputs through `convert_path`, strict and lenient.

The inputs, the independent count of their annotations and the properties are in `converter_fuzz.py`:
strict mode raises only `ConversionError`, naming the file and a line, record, tag or offset; lenient mode
never stops for a per-file or per-record problem; every annotation of the input is in the output or named
by a report entry; a valid input is read whole, text unchanged, and survives export and a second
conversion. Hypothesis seeds the harness's random choices (`st.randoms(use_true_random=True)`: a plain
seeded `Random`, as diverse as the benchmark's, where hypothesis-driven choices repeat the same few
inputs), derandomized, a bounded number of examples per format, without shrinking (it cannot shrink a
seed) so that a failing run is no longer than a passing one: about 35 s on 2 cores when everything passes.
A failure shows `rnd=Random(N)`: `converter_fuzz.make_case(format, random.Random(N), sources)` (or
`GENERATORS[format](random.Random(N))`) rebuilds its input. The long run is `benchmarks/fuzz_converters.py`.
"""

import random
import tempfile
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st

from helpers import converter_fuzz as fuzz
from spacy_clinical_pt.convert import convert_path, load_docs

BOUNDED = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    phases=(Phase.explicit, Phase.generate),
    suppress_health_check=(HealthCheck.too_slow,),
)


def assert_holds(case: fuzz.Case, nlp) -> None:
    note(case.describe())
    with tempfile.TemporaryDirectory() as work:
        findings = fuzz.check_case(case, nlp, Path(work))
    assert not findings, "\n".join(f"{f.signature}\n    {f.detail}" for f in findings)


@pytest.mark.parametrize("format", fuzz.FUZZED_FORMATS)
@settings(BOUNDED, max_examples=100)
@given(rnd=st.randoms(use_true_random=True))
def test_valid_inputs_are_read_whole(nlp, format, rnd):
    assert_holds(fuzz.GENERATORS[format](rnd), nlp)


@pytest.mark.parametrize("format", fuzz.FUZZED_FORMATS)
@BOUNDED
@given(rnd=st.randoms(use_true_random=True))
def test_mutated_inputs_never_crash_and_lose_nothing(nlp, format, rnd):
    assert_holds(fuzz.make_case(format, rnd, sources=("generated", "fixture")), nlp)


CORPORA = [
    pytest.param(
        format,
        marks=pytest.mark.skipif(
            not fuzz.corpus_available(format),
            reason=f"real corpus not available: {fuzz.SHARED_CORPORA / fuzz.CORPUS_FORMATS[format]} is absent "
            "(it is only beside developer and CI checkouts)",
        ),
    )
    for format in fuzz.CORPUS_FORMATS
]


@pytest.mark.parametrize("format", CORPORA)
@settings(BOUNDED, max_examples=60)
@given(rnd=st.randoms(use_true_random=True))
def test_mutated_real_corpus_files(nlp, format, rnd):
    assert_holds(fuzz.make_case(format, rnd, sources=("corpus",)), nlp)


# The harness itself: its count, and a check that can fail.


@pytest.mark.parametrize("format", fuzz.FUZZED_FORMATS)
def test_the_harness_counts_what_the_generator_wrote(format):
    written = counted = 0
    for seed in range(20):
        case = fuzz.GENERATORS[format](random.Random(seed))
        written += case.written
        counted += len(fuzz.count_annotations(case))
    assert counted == written > 20


def brat_location(line: int) -> fuzz.Location:
    return fuzz.Location(("a.ann", "a.txt"), "line", str(line))


def test_find_losses_counts_what_is_neither_output_nor_named():
    annotations = [
        fuzz.Annotation(("a", "T1", "problema"), brat_location(1), "Problema"),
        fuzz.Annotation(("a", "T2", "teste"), brat_location(2), "Teste"),
        fuzz.Annotation(("a", "T3", "teste"), brat_location(3), "Teste"),
    ]
    output = Counter({("a", "T1", "problema"): 1})
    names = ["a.ann", "a.txt"]
    dropped_line_2 = fuzz.parse_entry("dropped", "/tmp/in/a.ann:line 2", names, "malformed T line")
    dropped_line_9 = fuzz.parse_entry("dropped", "/tmp/in/a.ann:line 9", names, "malformed T line")
    file_error = fuzz.parse_entry("errors", "/tmp/in/a.txt", names, "the file is empty")
    decode_error = fuzz.parse_entry("errors", "/tmp/in/a.ann line 7", names, "not valid utf-16-le (byte offset 9)")

    losses = fuzz.find_losses(annotations, output, [dropped_line_2], {"a"})
    assert [(loss.count, loss.where.unit, loss.reason) for loss in losses] == [(1, "3", "entity not in the output")]
    assert sum(loss.count for loss in fuzz.find_losses(annotations, output, [dropped_line_9])) == 2
    assert fuzz.find_losses(annotations, output, [file_error]) == []
    assert fuzz.find_losses(annotations, output, [decode_error]) == []
    relabelled = Counter({("a", "T1", "ispunct"): 1})
    (loss,) = fuzz.find_losses(annotations[:1], relabelled, [], {"a"})
    assert loss.reason == "output has it with label 'ispunct'"


def test_a_record_error_covers_its_record_and_an_annotation_drop_only_itself():
    names = ["data.json"]
    first = fuzz.Location(("data.json",), "record", "2", "1")
    second = fuzz.Location(("data.json",), "record", "2", "2")
    annotations = [fuzz.Annotation(("d2", 0, 3, "teste"), where, "Teste") for where in (first, second)]
    record_error = fuzz.parse_entry("errors", "/x/data.json record 2", names, "the 'text' field must be a string")
    one_drop = fuzz.parse_entry("dropped", "/x/data.json record 2 annotation 1", names, "offsets are not integers")
    assert fuzz.find_losses(annotations, Counter(), [record_error]) == []
    assert [loss.count for loss in fuzz.find_losses(annotations, Counter(), [one_drop])] == [1]


def losing_one_entity(input_path, output_path, **options):
    """`convert_path`, then one entity silently taken out of the output (what the harness must catch)."""
    from spacy.tokens import DocBin

    report = convert_path(input_path, output_path, **options)
    docs = load_docs(output_path)
    doc = next(doc for doc in docs if len(doc.spans["sc"]))
    doc.spans["sc"] = list(doc.spans["sc"])[1:]
    DocBin(store_user_data=True, docs=docs).to_disk(output_path)
    return report


def crashing(input_path, output_path, **options):
    raise KeyError("label")


def test_check_case_reports_a_silent_loss_and_a_crash(nlp, tmp_path):
    case = fuzz.fixture_case("brat", random.Random(0))
    assert fuzz.check_case(case, nlp, tmp_path / "plain") == []
    findings = fuzz.check_case(case, nlp, tmp_path / "losing", convert=losing_one_entity)
    assert [(f.kind, f.mode, f.count) for f in findings] == [("loss", "strict", 1), ("loss", "lenient", 1)]
    assert "nota1.ann line 1 label 'Problema'" in findings[0].detail
    findings = fuzz.check_case(case, nlp, tmp_path / "crashing", convert=crashing)
    assert [(f.kind, f.mode) for f in findings] == [("crash", "strict"), ("crash", "lenient")]
    crash = "brat strict crash: KeyError at ? (in convert/test_convert_properties.py:crashing): '…'"
    assert findings[0].signature == crash


def test_an_id_less_tag_is_named_by_its_position_and_element():
    names = ["nota.xml"]
    lost = fuzz.Annotation(("nota", "#<Entity>", "disorders"), fuzz.Location(("nota.xml",), "tag", "#<Entity>"), "D")
    named = fuzz.parse_entry("dropped", "/x/nota.xml tag #2 <Entity>", names, "offsets are not integers")
    other_element = fuzz.parse_entry("dropped", "/x/nota.xml tag #2 <Finding>", names, "offsets are not integers")
    assert fuzz.find_losses([lost], Counter(), [named]) == []
    assert [loss.count for loss in fuzz.find_losses([lost], Counter(), [other_element])] == [1]


def test_a_record_error_does_not_cover_line_located_annotations_of_the_file():
    names = ["data.jsonl"]
    annotation = fuzz.Annotation(("d3", 0, 3, "teste"), fuzz.Location(("data.jsonl",), "line", "3", "1"), "Teste")
    record_error = fuzz.parse_entry("errors", "/x/data.jsonl record 1", names, "the 'text' field must be a string")
    assert [loss.count for loss in fuzz.find_losses([annotation], Counter(), [record_error])] == [1]
    line_error = fuzz.parse_entry("errors", "/x/data.jsonl line 1", names, "malformed JSON")
    in_a_record = fuzz.Annotation(("d1", 0, 3, "teste"), fuzz.Location(("data.jsonl",), "record", "2"), "Teste")
    assert fuzz.find_losses([in_a_record], Counter(), [line_error]) == []

"""IO, BIO and BIOE encoding and decoding on hand-made overlapping spans (pure numpy, no model)."""

import numpy
import pytest

from spacy_clinical_pt.schemes import (
    DecodedSpan,
    boundary_scores,
    candidate_spans,
    columns,
    decode,
    encode,
    label_matrix,
    label_probabilities,
    parse_columns,
)
from spacy_clinical_pt.thresholds import Thresholds

LABELS = ["Problema", "Anatomia"]
# "dor no peito esquerdo há dois dias": Problema covers 0-4, Anatomia 2-4 nested inside, a second Problema 5-7.
SPANS = [(0, 4, "Problema"), (2, 4, "Anatomia"), (5, 7, "Problema")]


def test_columns_per_scheme():
    assert columns(LABELS, "IO") == ["I-Problema", "I-Anatomia"]
    assert columns(LABELS, "BIO") == ["B-Problema", "I-Problema", "B-Anatomia", "I-Anatomia"]
    assert columns(LABELS, "BIOE") == [
        "B-Problema", "I-Problema", "E-Problema", "B-Anatomia", "I-Anatomia", "E-Anatomia"
    ]
    with pytest.raises(ValueError, match="unknown annotation scheme 'BILOU'"):
        columns(LABELS, "BILOU")


def test_io_encoding_keeps_nested_labels_on_the_same_token():
    matrix = encode(SPANS, 8, LABELS, "IO")
    assert matrix.shape == (8, 2)
    assert matrix[:, 0].tolist() == [1, 1, 1, 1, 0, 1, 1, 0]
    assert matrix[:, 1].tolist() == [0, 0, 1, 1, 0, 0, 0, 0]


def test_bio_encoding_marks_first_token_b_and_the_rest_i():
    matrix = encode(SPANS, 8, LABELS, "BIO")
    assert matrix.shape == (8, 4)
    assert matrix[:, 0].tolist() == [1, 0, 0, 0, 0, 1, 0, 0]  # B-Problema
    assert matrix[:, 1].tolist() == [0, 1, 1, 1, 0, 0, 1, 0]  # I-Problema
    assert matrix[:, 2].tolist() == [0, 0, 1, 0, 0, 0, 0, 0]  # B-Anatomia
    assert matrix[:, 3].tolist() == [0, 0, 0, 1, 0, 0, 0, 0]  # I-Anatomia


def test_bioe_encoding_adds_an_end_column_that_one_token_spans_share_with_b():
    matrix = encode(SPANS + [(7, 8, "Anatomia")], 8, LABELS, "BIOE")
    assert matrix.shape == (8, 6)
    assert matrix[:, 0].tolist() == [1, 0, 0, 0, 0, 1, 0, 0]  # B-Problema
    assert matrix[:, 1].tolist() == [0, 1, 1, 1, 0, 0, 1, 0]  # I-Problema, as BIO
    assert matrix[:, 2].tolist() == [0, 0, 0, 1, 0, 0, 1, 0]  # E-Problema: the last token of each span
    assert matrix[:, 3].tolist() == [0, 0, 1, 0, 0, 0, 0, 1]  # B-Anatomia
    assert matrix[:, 5].tolist() == [0, 0, 0, 1, 0, 0, 0, 1]  # E-Anatomia: the one-token span is B and E


@pytest.mark.parametrize("scheme", ["IO", "BIO", "BIOE"])
def test_decode_inverts_encode_with_overlaps(scheme):
    probs = encode(SPANS, 8, LABELS, scheme)
    decoded = decode(probs, LABELS, scheme, 0.5)
    assert [(s.start, s.end, s.label) for s in decoded] == sorted(SPANS)
    assert all(s.score == 1.0 for s in decoded)


def test_bio_keeps_adjacent_same_label_spans_apart_where_io_merges_them():
    spans = [(0, 2, "Problema"), (2, 3, "Problema")]
    assert [(s.start, s.end) for s in decode(encode(spans, 3, LABELS, "BIO"), LABELS, "BIO")] == [(0, 2), (2, 3)]
    assert [(s.start, s.end) for s in decode(encode(spans, 3, LABELS, "IO"), LABELS, "IO")] == [(0, 3)]


def test_io_decoding_takes_maximal_runs_and_mean_probability():
    probs = numpy.array([[0.9, 0.1], [0.7, 0.6], [0.2, 0.8], [0.6, 0.1]], dtype="float32")
    decoded = decode(probs, LABELS, "IO", 0.5)
    assert decoded == [
        DecodedSpan(0, 2, "Problema", pytest.approx(0.8)),
        DecodedSpan(1, 3, "Anatomia", pytest.approx(0.7)),
        DecodedSpan(3, 4, "Problema", pytest.approx(0.6)),
    ]


def test_bio_orphan_i_starts_a_span_only_when_asked():
    # Columns B-Problema, I-Problema, B-Anatomia, I-Anatomia; token 1-2 are I-Problema without a B.
    probs = numpy.zeros((4, 4), dtype="float32")
    probs[1, 1] = probs[2, 1] = 0.8
    probs[3, 0] = 0.9  # a B right after the run starts a new span
    with_orphans = decode(probs, LABELS, "BIO", 0.5, start_on_orphan_i=True)
    assert [(s.start, s.end, s.label) for s in with_orphans] == [(1, 3, "Problema"), (3, 4, "Problema")]
    without = decode(probs, LABELS, "BIO", 0.5, start_on_orphan_i=False)
    assert [(s.start, s.end, s.label) for s in without] == [(3, 4, "Problema")]


def test_per_label_thresholds():
    probs = numpy.array([[0.4, 0.4]], dtype="float32")
    assert decode(probs, LABELS, "IO", {"Problema": 0.3}) == [DecodedSpan(0, 1, "Problema", pytest.approx(0.4))]
    start, carry = Thresholds({"Anatomia": 0.2}).vectors(LABELS)
    assert start.tolist() == carry.tolist() == pytest.approx([0.5, 0.2])


@pytest.mark.parametrize("bad", [0.0, 1.0, -0.1, 1.5, "0.5", True])
def test_threshold_outside_zero_one_is_refused(bad):
    with pytest.raises(ValueError, match="threshold"):
        decode(numpy.zeros((1, 2), dtype="float32"), LABELS, "IO", bad)


def test_threshold_for_unknown_label_is_refused():
    with pytest.raises(ValueError, match="unknown label.*'Teste'"):
        decode(numpy.zeros((1, 2), dtype="float32"), LABELS, "IO", {"Teste": 0.5})


def test_unknown_label_or_out_of_range_span_in_encode():
    with pytest.raises(ValueError, match="label 'Teste', which is not among the labels"):
        encode([(0, 1, "Teste")], 3, LABELS, "IO")
    with pytest.raises(ValueError, match="outside a document of 3 tokens"):
        encode([(2, 5, "Problema")], 3, LABELS, "IO")


def test_empty_document_and_wrong_width():
    assert encode([], 0, LABELS, "BIO").shape == (0, 4)
    assert decode(numpy.zeros((0, 4), dtype="float32"), LABELS, "BIO") == []
    with pytest.raises(ValueError, match="do not match 4 BIO columns"):
        decode(numpy.zeros((3, 2), dtype="float32"), LABELS, "BIO")


def test_label_matrix_is_the_io_matrix_whatever_the_scheme():
    assert (label_matrix(SPANS, 8, LABELS) == encode(SPANS, 8, LABELS, "IO")).all()


@pytest.mark.parametrize("scheme", ["IO", "BIO", "BIOE"])
def test_whitespace_tokens_never_start_or_end_a_span(scheme):
    # tokens: "\n" "dor" " " "peito" "\n" -- all above threshold; the newline alone after it too
    probs = numpy.full((6, len(columns(LABELS, scheme))), 0.9, dtype="float32")
    space = numpy.array([True, False, True, False, True, True])
    decoded = decode(probs, LABELS, scheme, 0.5, space=space)
    problema = [(s.start, s.end) for s in decoded if s.label == "Problema"]
    if scheme == "IO":
        assert problema == [(1, 4)]  # the inner space stays, the edges go
    else:
        assert problema == [(1, 2), (3, 4)]  # every token is a B: one span per non-space token
    only_space = decode(numpy.full((2, len(columns(LABELS, scheme))), 0.9, dtype="float32"), LABELS, scheme,
                        space=numpy.array([True, True]))
    assert only_space == []


def test_bio_continuation_threshold_carries_a_span_over_weaker_inside_tokens():
    probs = numpy.array([[0.9, 0.1], [0.1, 0.6], [0.1, 0.4], [0.1, 0.1]], dtype="float32")  # B, I of one label
    assert [(s.start, s.end) for s in decode(probs, ["Problema"], "BIO", 0.5)] == [(0, 2)]
    carried = decode(probs, ["Problema"], "BIO", 0.5, continue_thresholds=0.3)
    assert [(s.start, s.end) for s in carried] == [(0, 3)]
    assert carried[0].score == pytest.approx((0.9 + 0.6 + 0.4) / 3)
    weak_start = probs.copy()
    weak_start[0, 0] = 0.4  # a weak B starts nothing, however low the continuation threshold
    assert decode(weak_start, ["Problema"], "BIO", 0.5, continue_thresholds=0.3) == []
    with pytest.raises(ValueError):
        decode(probs, ["Problema"], "BIO", 0.5, continue_thresholds=1.5)


def test_bioe_span_ends_on_the_most_probable_end_inside_the_run():
    # one label, columns B, I, E: the Is carry the run over tokens 0-4, the E says the span ends at token 2
    probs = numpy.array(
        [[0.9, 0.0, 0.1], [0.1, 0.8, 0.3], [0.1, 0.7, 0.8], [0.1, 0.6, 0.2], [0.1, 0.6, 0.4], [0.0, 0.1, 0.0]],
        dtype="float32",
    )
    decoded = decode(probs, ["Problema"], "BIOE", 0.5)
    assert decoded == [DecodedSpan(0, 3, "Problema", pytest.approx((0.9 + 0.8 + 0.7) / 3))]
    # no E reaches the threshold: the end is unknown and no span is given, where BIO takes the whole run
    no_end = probs.copy()
    no_end[:, 2] = 0.2
    assert decode(no_end, ["Problema"], "BIOE", 0.5) == []
    assert [(s.start, s.end) for s in decode(no_end[:, :2], ["Problema"], "BIO", 0.5)] == [(0, 5)]
    # a second B inside the run closes it and starts its own span
    second = probs.copy()
    second[3, 0], second[4, 2] = 0.9, 0.9
    assert [(s.start, s.end) for s in decode(second, ["Problema"], "BIOE", 0.5)] == [(0, 3), (3, 5)]
    # the continuation threshold lets weaker Is carry the run to a later end
    late = probs.copy()
    late[2, 2], late[4, 2], late[3, 1] = 0.1, 0.9, 0.4
    assert decode(late, ["Problema"], "BIOE", 0.5) == []  # the run stops at token 3, before any confident E
    assert [(s.start, s.end) for s in decode(late, ["Problema"], "BIOE", 0.5, continue_thresholds=0.3)] == [(0, 5)]


def test_label_probabilities_take_the_max_of_each_labels_columns():
    probs = numpy.array([[0.9, 0.1, 0.3, 0.2, 0.6, 0.1]], dtype="float32")
    assert label_probabilities(probs, "BIOE").tolist() == [[pytest.approx(0.9), pytest.approx(0.6)]]
    assert label_probabilities(probs[:, :4], "BIO").tolist() == [[pytest.approx(0.9), pytest.approx(0.3)]]
    assert (label_probabilities(probs[:, :2], "IO") == probs[:, :2]).all()


def test_candidates_keep_every_plausible_end_where_decode_commits_to_one():
    # one label, columns B, I, E: a confident start at 0, two plausible ends (token 1 at 0.3, token 2 at 0.8)
    probs = numpy.array(
        [[0.9, 0.0, 0.01], [0.02, 0.8, 0.3], [0.01, 0.7, 0.8], [0.01, 0.01, 0.01], [0.01, 0.01, 0.01]],
        dtype="float32",
    )
    assert [(s.start, s.end) for s in decode(probs, ["Problema"], "BIOE", 0.5)] == [(0, 3)]
    exact = candidate_spans(probs, ["Problema"], "BIOE", threshold=0.1, widen=0)
    assert [(s.start, s.end) for s in exact] == [(0, 2), (0, 3)]
    assert [s.score for s in exact] == [pytest.approx(0.9 * 0.3), pytest.approx(0.9 * 0.8)]
    assert {s.label for s in exact} == {"Problema"}
    # widened by one token: either boundary moves, never both; nothing outside the doc
    widened = {(s.start, s.end) for s in candidate_spans(probs, ["Problema"], "BIOE", threshold=0.1, widen=1)}
    assert widened == {(0, 2), (0, 3), (1, 2), (0, 1), (1, 3), (0, 4)}
    # the inside score bounds the run: a weak I at token 2 stops it before the second end
    broken = probs.copy()
    broken[2, 1] = 0.05
    assert [(s.start, s.end) for s in candidate_spans(broken, ["Problema"], "BIOE", 0.1, widen=0)] == [(0, 2)]
    assert candidate_spans(probs, ["Problema"], "BIOE", 0.1, max_length=1, widen=0) == []


def test_candidates_are_unique_per_boundaries_across_labels_and_skip_whitespace():
    # two labels proposing the same tokens 1-2; token 0 is whitespace
    probs = numpy.zeros((3, 6), dtype="float32")
    probs[1, [0, 3]] = [0.9, 0.6]  # B of both labels
    probs[2, [1, 2, 4, 5]] = [0.9, 0.9, 0.9, 0.9]  # I and E of both
    space = numpy.array([True, False, False])
    found = candidate_spans(probs, LABELS, "BIOE", 0.1, widen=1, space=space)
    assert [(s.start, s.end) for s in found] == [(1, 2), (1, 3), (2, 3)]  # no span starts on the space
    assert found[1].label == "Problema"  # the label proposing it with the higher start x end score


def test_boundary_scores_of_io_and_bio():
    inside = numpy.array([[0.9], [0.8], [0.1]], dtype="float32")
    start, within, end = boundary_scores(inside, 1, "IO")
    assert start[:, 0].tolist() == pytest.approx([0.9, 0.8 * 0.1, 0.1 * 0.2])
    assert end[:, 0].tolist() == pytest.approx([0.9 * 0.2, 0.8 * 0.9, 0.1])
    assert (within == inside).all()
    bio = numpy.array([[0.9, 0.0], [0.1, 0.8], [0.0, 0.3]], dtype="float32")
    start, within, end = boundary_scores(bio, 1, "BIO")
    assert start[:, 0].tolist() == pytest.approx([0.9, 0.1, 0.0])
    assert end[:, 0].tolist() == pytest.approx([0.2, 0.7, 1.0])  # 1 - I(next); the last token can always end
    io_spans = [(s.start, s.end) for s in candidate_spans(inside, ["Problema"], "IO", 0.5, widen=0)]
    assert io_spans == [(0, 2)]


def test_candidate_settings_are_checked():
    probs = numpy.zeros((2, 3), dtype="float32")
    with pytest.raises(ValueError, match="threshold for candidates"):
        candidate_spans(probs, ["Problema"], "BIOE", threshold=0.0)
    with pytest.raises(ValueError, match="max_length must be at least 1"):
        candidate_spans(probs, ["Problema"], "BIOE", max_length=0)
    with pytest.raises(ValueError, match="do not match 3 BIOE columns"):
        candidate_spans(numpy.zeros((2, 2), dtype="float32"), ["Problema"], "BIOE")


def test_columns_parse_back_to_their_labels_and_scheme():
    for scheme in ("IO", "BIO", "BIOE"):
        assert parse_columns(columns(LABELS, scheme)) == (LABELS, scheme)
    with pytest.raises(ValueError, match="not those of an IO, BIO or BIOE tagger"):
        parse_columns(["B-Problema", "E-Problema"])

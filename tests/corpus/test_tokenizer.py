"""The clinical tokenizer: each rule on hand-written Portuguese clinical text, what must stay whole, the
registered functions, serialisation, and the alignment count."""

import subprocess
import sys

import pytest
import spacy
from spacy.lang.en import English
from spacy.util import load_config_from_str, load_model_from_config

from spacy_clinical_pt.corpus import Entity, Record
from spacy_clinical_pt.tokenizer import alignment_rate, clinical_nlp, clinical_tokenizer_rules


def tokens(nlp, text):
    return [token.text for token in nlp.make_doc(text)]


@pytest.mark.parametrize(
    "text, expected",
    [
        # numbers glued to units and frequencies
        ("Metformina 850mg", ["Metformina", "850", "mg"]),
        ("SF 0,9% 5ml", ["SF", "0,9", "%", "5", "ml"]),
        ("insulina NPH 20UI", ["insulina", "NPH", "20", "UI"]),
        ("AMIODARONA 200MG", ["AMIODARONA", "200", "MG"]),
        ("Fluoxetina 20-1xd", ["Fluoxetina", "20", "-", "1", "xd"]),
        ("3x/dia", ["3", "x", "/", "dia"]),
        # dose schedules keep the fraction, lose the unit
        ("dipirona 12/12h", ["dipirona", "12/12", "h"]),
        ("8/8h se dor", ["8/8", "h", "se", "dor"]),
        # dimensions and blood pressure
        ("PA 130x90mmHg", ["PA", "130", "x", "90", "mmHg"]),
        ("nódulo 3x4cm", ["nódulo", "3", "x", "4", "cm"]),
        # receptor notations and +, /, - between alphanumerics
        ("RE-/RP-/Her2+", ["RE", "-", "/", "RP", "-", "/", "Her2", "+"]),
        ("RE+/RP+/HER2-", ["RE", "+", "/", "RP", "+", "/", "HER2", "-"]),
        ("sopro 2+/6+", ["sopro", "2", "+", "/", "6", "+"]),
        ("HAS+DM", ["HAS", "+", "DM"]),
        ("Microalbuminuria/creatinina", ["Microalbuminuria", "/", "creatinina"]),
        # list dashes glued to the item, trailing dashes
        ("-hidroclorotiazida 25 mg", ["-", "hidroclorotiazida", "25", "mg"]),
        ("--LAB", ["--", "LAB"]),
        ("Espironolactona 25 mg- 1 cp", ["Espironolactona", "25", "mg", "-", "1", "cp"]),
        # ":" and "=" before values
        ("K:4,8 mmol/L", ["K", ":", "4,8", "mmol", "/", "L"]),
        ("FC:92", ["FC", ":", "92"]),
        ("PA=120x80", ["PA", "=", "120", "x", "80"]),
        ("PCR<5", ["PCR", "<", "5"]),
        ("ECG:RS", ["ECG", ":", "RS"]),
        # parentheses glued to words (no emoticon such as "):")
        ("CAPTOPRIL(2 CP)", ["CAPTOPRIL", "(", "2", "CP", ")"]),
        ("TFG (CKD-EPI): 33", ["TFG", "(", "CKD-EPI", ")", ":", "33"]),
        # glued punctuation between sentences and items
        ("NEGA DISPNEIA.NEGA SINCOPE", ["NEGA", "DISPNEIA", ".", "NEGA", "SINCOPE"]),
        ("dor.Nega febre", ["dor", ".", "Nega", "febre"]),
        ("1,5a ).Valva aórtica", ["1,5", "a", ")", ".", "Valva", "aórtica"]),
        ("1.Paciente estável", ["1", ".", "Paciente", "estável"]),
        ("3x d;Marevan 5", ["3", "x", "d", ";", "Marevan", "5"]),
        ("2|Cardiomiopatia", ["2", "|", "Cardiomiopatia"]),
        ("SANGRAMENTOS./ ALIMENTAÇÃO", ["SANGRAMENTOS", ".", "/", "ALIMENTAÇÃO"]),
        ("200MG,1/2 CP", ["200", "MG", ",", "1/2", "CP"]),
        # a single letter before a full stop ends the sentence
        ("disfunção diastólica grau I.", ["disfunção", "diastólica", "grau", "I", "."]),
        ("vitamina D.", ["vitamina", "D", "."]),
        ("Lorazepam 0.5 mg/d.", ["Lorazepam", "0.5", "mg", "/", "d", "."]),
    ],
)
def test_clinical_rules_split(nlp, text, expected):
    assert tokens(nlp, text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "1,5",  # decimal comma
        "3.5",  # decimal point
        "10/05/2018",  # dates stay whole: no gold entity needs them split
        "12:30",  # time
        "pós-operatório",  # hyphenated words
        "anti-hipertensivo",
        "CKD-EPI",
        "COVID-19",
        "HbA1c",  # codes that start with a letter are not number + unit
        "B12",
        "pT2N0M0",
        "1º",  # ordinals
        "2ª",
        "S.O.S.",  # dotted acronyms
        "Dr.",  # Portuguese abbreviations
        "Sra.",
        "etc.",
        "e/ou",
        "hidroclorotiazida",
        "http://www.saude.gov.br/bulas",
    ],
)
def test_whole_tokens_stay_whole(nlp, text):
    assert tokens(nlp, text) == [text]


def test_ordinary_sentence_matches_portuguese_tokenizer(nlp):
    text = "Paciente de 57 anos, refere dor torácica há 2 dias. Nega febre; nega tosse (ver exames)."
    assert tokens(nlp, text) == tokens(spacy.blank("pt"), text)


def test_rules_applied_twice_are_the_same_rules():
    once = clinical_nlp()
    twice = clinical_tokenizer_rules(clinical_nlp())
    for attr in ("prefix_search", "suffix_search", "infix_finditer", "token_match"):
        assert getattr(once.tokenizer, attr).__self__.pattern == getattr(twice.tokenizer, attr).__self__.pattern
    assert once.tokenizer.rules == twice.tokenizer.rules


def test_rules_need_the_rule_based_tokenizer():
    nlp = spacy.blank("pt")
    nlp.tokenizer = lambda text: spacy.tokens.Doc(nlp.vocab, words=text.split())
    with pytest.raises(TypeError, match="rule-based Tokenizer"):
        clinical_tokenizer_rules(nlp)


def test_rules_work_for_another_language():
    nlp = clinical_tokenizer_rules(English())
    assert tokens(nlp, "metformin 850mg bid") == ["metformin", "850", "mg", "bid"]


TOKENIZER_CONFIG = """
[nlp]
lang = "pt"
pipeline = []

[nlp.tokenizer]
@tokenizers = "spacy_clinical_pt.ClinicalTokenizer.v1"

[components]
"""

CALLBACK_CONFIG = """
[nlp]
lang = "pt"
pipeline = []

[nlp.after_creation]
@callbacks = "spacy_clinical_pt.clinical_tokenizer_rules.v1"

[components]
"""

SAMPLE = "-AAS 100mg 1xd; K:4,8. RE-/RP-/Her2+ CAPTOPRIL(2 CP) DISPNEIA.NEGA PA=130x90mmHg 10/05/2018 1,5"


@pytest.mark.parametrize("config", [TOKENIZER_CONFIG, CALLBACK_CONFIG], ids=["tokenizer", "after_creation"])
def test_config_builds_clinical_tokenizer(nlp, config):
    built = load_model_from_config(load_config_from_str(config), auto_fill=True)
    assert tokens(built, SAMPLE) == tokens(nlp, SAMPLE)
    assert tokens(built, SAMPLE) != tokens(spacy.blank("pt"), SAMPLE)


@pytest.mark.parametrize("config", [TOKENIZER_CONFIG, CALLBACK_CONFIG], ids=["tokenizer", "after_creation"])
def test_saved_pipeline_reloads_with_the_same_tokenization(tmp_path, nlp, config):
    built = load_model_from_config(load_config_from_str(config), auto_fill=True)
    built.to_disk(tmp_path / "pipeline")
    loaded = spacy.load(tmp_path / "pipeline")
    assert tokens(loaded, SAMPLE) == tokens(nlp, SAMPLE)


def test_rules_are_serialised_with_the_tokenizer(nlp):
    # A plain Portuguese tokenizer that loads the clinical one's bytes tokenizes clinically: the rules
    # travel as regexes and exceptions, not only through the config.
    plain = spacy.blank("pt")
    plain.tokenizer.from_bytes(nlp.tokenizer.to_bytes())
    for attr in ("prefix_search", "suffix_search", "infix_finditer", "token_match"):
        assert getattr(plain.tokenizer, attr).__self__.pattern == getattr(nlp.tokenizer, attr).__self__.pattern
    assert tokens(plain, SAMPLE) == tokens(nlp, SAMPLE)


@pytest.mark.slow
def test_registered_functions_found_through_entry_points():
    # A fresh interpreter that never imports spacy_clinical_pt.tokenizer: spaCy's registry must find
    # both functions through the package's entry points.
    code = (
        "import sys, spacy\n"
        "from spacy.util import registry, load_config_from_str, load_model_from_config\n"
        "assert 'spacy_clinical_pt.tokenizer' not in sys.modules\n"
        "registry.callbacks.get('spacy_clinical_pt.clinical_tokenizer_rules.v1')\n"
        f"nlp = load_model_from_config(load_config_from_str({TOKENIZER_CONFIG!r}), auto_fill=True)\n"
        "print('|'.join(t.text for t in nlp.make_doc('Metformina 850mg')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "Metformina|850|mg"


def test_alignment_rate_counts_fragments_and_shows_misses(nlp):
    text = "Nega dispneia. Em uso de insulina NPH 20UI 12/12h e edema de MMII."

    def at(piece):
        return text.index(piece), text.index(piece) + len(piece)

    records = [
        Record(
            "note-1",
            text,
            [
                Entity(*at("dispneia"), "Problema"),
                Entity(*at("insulina NPH 20UI"), "Tratamento"),
                Entity(at("insulina")[0], at("20")[1], "Tratamento"),  # "20" of "20UI": aligns with clinical rules
                Entity(at("12/12h")[0], at("12/12h")[0] + 2, "Tratamento"),  # "12" of "12/12": never aligns
                # discontinuous "edema ... MMII": two fragments, counted separately
                Entity(at("edema")[0], at("MMII")[1], "Problema", fragments=(at("edema"), at("MMII"))),
                Entity(at(" dispneia")[0], at("dispneia")[1], "Problema"),  # leading space is trimmed
                Entity(*at("Nega"), None),  # no label: not a gold entity
            ],
        )
    ]
    rate = alignment_rate(nlp, records)
    assert (rate.aligned, rate.total) == (6, 7)
    assert rate.percent == pytest.approx(100 * 6 / 7)
    (miss,) = rate.misses
    assert (miss.doc_id, miss.label) == ("note-1", "Tratamento")
    assert "[12]" in miss.shown and miss.tokens == "12/12"

    baseline = alignment_rate(spacy.blank("pt"), records)
    assert (baseline.aligned, baseline.total) == (5, 7)  # "20UI" is one Portuguese token

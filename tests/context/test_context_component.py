"""The clinical_context component on hand-written sentences (no patient data), pt-BR and pt-PT."""

import json

import pytest
import spacy
from spacy.tokens import Span

from spacy_clinical_pt.context import ASSERTIONS, ClinicalContext, ContextRule, make_clinical_context
from spacy_clinical_pt.tokenizer import clinical_nlp


@pytest.fixture(scope="module")
def nlp():
    nlp = spacy.blank("pt")
    nlp.add_pipe("clinical_context")
    return nlp


def annotate(nlp, text, *targets, key="sc", label="Problema"):
    """Run the pipeline on `text` with the first occurrence of each target as a span of `key`."""
    doc = nlp.make_doc(text)
    spans = []
    for target in targets:
        start = text.index(target)
        spans.append(doc.char_span(start, start + len(target), label=label))
    doc.spans[key] = spans
    for _, pipe in nlp.pipeline:
        doc = pipe(doc)
    return doc


# (text, {target: assertion}) written for these tests; "|" marks pt-PT wording where it differs.
SENTENCES = [
    ("Nega febre. Refere dor torácica.", {"febre": "absent", "dor torácica": "present"}),
    ("NEGA DISPNEIA E ORTOPNEIA.", {"DISPNEIA": "absent", "ORTOPNEIA": "absent"}),
    ("Ausencia de edema de membros inferiores.", {"edema": "absent"}),
    ("Não há sinais de trombose venosa profunda.", {"trombose venosa profunda": "absent"}),
    ("Paciente sem febre, com tosse produtiva.", {"febre": "absent", "tosse produtiva": "present"}),
    ("Nega febre, refere cefaleia.", {"febre": "absent", "cefaleia": "present"}),
    ("Sem náuseas, mas com vómitos desde ontem.", {"náuseas": "absent", "vómitos": "present"}),
    ("Sorologia para HIV negativa.", {"HIV": "absent"}),
    ("Pulsos pediosos ausentes.", {"Pulsos pediosos": "absent"}),
    ("TEP descartado após angiotomografia.", {"TEP": "absent"}),
    ("Febre: nega. Tosse: sim.", {"Febre": "absent", "Tosse": "present"}),
    ("ALERGIAS: nenhuma conhecida.", {"ALERGIAS": "absent"}),
    ("Alergia medicamentosa: NEGA", {"Alergia medicamentosa": "absent"}),
    ("Negativo para malária, positivo para dengue.", {"malária": "absent", "dengue": "present"}),
    ("Suspeita de pneumonia adquirida na comunidade.", {"pneumonia": "possible"}),
    ("Dor abdominal a esclarecer.", {"Dor abdominal": "possible"}),
    ("Provável infecção urinária.", {"infecção urinária": "possible"}),
    ("Hipótese de apendicite aguda.", {"apendicite aguda": "possible"}),
    ("Não se pode excluir isquemia miocárdica.", {"isquemia miocárdica": "possible"}),
    ("Fratura de colo do fémur?", {"Fratura de colo do fémur": "possible"}),
    ("História de enfarte agudo do miocárdio há 10 anos.", {"enfarte agudo do miocárdio": "historical"}),
    ("Antecedentes de tuberculose pulmonar tratada.", {"tuberculose pulmonar": "historical"}),
    ("AVC prévio, atualmente com disartria.", {"AVC": "historical", "disartria": "present"}),
    ("Mãe com diabetes mellitus. Paciente com hipertensão.", {"diabetes mellitus": "family", "hipertensão": "present"}),
    ("Cancro da mama na avó materna.", {"Cancro da mama": "family"}),
    ("História familiar de neoplasia de cólon.", {"neoplasia de cólon": "family"}),
    ("Acompanhado da mãe, refere dor lombar.", {"dor lombar": "present"}),
    ("Retornar se febre ou dispneia.", {"febre": "hypothetical", "dispneia": "hypothetical"}),
    ("Em caso de sangramento, procurar o pronto-socorro.", {"sangramento": "hypothetical"}),
    ("Paciente se queixa de dor lombar.", {"dor lombar": "present"}),
    ("Não só dor epigástrica, mas também pirose.", {"dor epigástrica": "present", "pirose": "present"}),
    ("Bacilo gram negativo na urocultura.", {"Bacilo": "present"}),
    ("Mantida losartana sem alteração na dose de enalapril.", {"enalapril": "present"}),
    ("Mãe nega febre no doente.", {"febre": "absent"}),
    ("Nega história de asma.", {"asma": "absent"}),
    ("Sem alterações de sensibilidade.", {"alterações de sensibilidade": "absent"}),
    ("Sem melhora da dispneia com broncodilatador.", {"dispneia": "present"}),
    ("Nega tabagismo; refere etilismo social.", {"tabagismo": "absent", "etilismo social": "present"}),
    ("Nega febre\n- Tosse seca há 3 dias", {"febre": "absent", "Tosse seca": "present"}),
    ("- Sem edema\r\n- Dor à palpação", {"edema": "absent", "Dor à palpação": "present"}),
    ("ANTECEDENTES FAMILIARES:\nDM tipo 2 e HAS.\nHDA: dor abdominal.", {"DM tipo 2": "family", "HAS": "family", "dor abdominal": "present"}),
    ("HISTÓRIA PREGRESSA: colecistectomia.\nQUEIXA PRINCIPAL: dor torácica.", {"colecistectomia": "historical", "dor torácica": "present"}),
    ("Dr. Silva nega febre. Sra. Costa refere tosse.", {"febre": "absent", "tosse": "present"}),
    ("Tomou dipirona 1 g. Nega febre.", {"dipirona": "present", "febre": "absent"}),
    # Allergy lists, a value on the line after its key, terminators and line breaks of ER_NER-like notes.
    ("ALERGIAS: Nenhumas conhecidas.", {"ALERGIAS": "absent"}),
    ("ALERGIAS MEDICAMENTOSAS:\r\n- Nenhuma conhecida\r\n\r\nEXAME FÍSICO: sem sopros.", {"ALERGIAS MEDICAMENTOSAS": "absent"}),
    ("Alergia a fármacos: não tem.", {"Alergia a fármacos": "absent"}),
    ("Excluída alergia ao iodo.", {"alergia ao iodo": "absent"}),
    ("Sem alergias conhecidas, excepto ao ibuprofeno.", {"alergias": "absent", "ibuprofeno": "present"}),
    ("Sem edema\r\n\r\n Tosse seca há 3 dias.", {"Tosse seca": "present"}),
    ("ANTECEDENTES PESSOAIS:\nHTA.\nAlergia à amoxicilina.", {"HTA": "historical", "Alergia à amoxicilina": "present"}),
    ("Indicação para não usar AAS.", {"AAS": "present"}),
    # Findings that are not negated, not about a relative, or historical by their cue.
    ("Não houve melhora da dor torácica.", {"dor torácica": "present"}),
    ("Sem dúvida, pneumonia da base direita.", {"pneumonia": "present"}),
    ("Sem febre e com tosse produtiva.", {"febre": "absent", "tosse produtiva": "present"}),
    ("Veio com a mãe por febre alta.", {"febre alta": "present"}),
    ("Episódio prévio de pancreatite aguda.", {"pancreatite aguda": "historical"}),
    ("Submetida a apendicectomia na adolescência.", {"apendicectomia": "historical"}),
    ("Internamento prévio por pneumonia, agora com febre.", {"pneumonia": "historical", "febre": "present"}),
    ("Pós-operatório de colecistectomia sem intercorrências.", {"colecistectomia": "historical"}),
    # Historical by a year, an age, "há cerca de N anos", "anterior" (not the anatomical one), "tratado com".
    ("Colecistectomia em 2012 por litíase biliar.", {"Colecistectomia": "historical", "litíase biliar": "historical"}),
    ("Fratura do fémur há cerca de 20 anos.", {"Fratura do fémur": "historical"}),
    ("Sarampo aos 5 anos, sem sequelas.", {"Sarampo": "historical"}),
    ("Cirurgia anterior por hérnia inguinal.", {"Cirurgia": "historical", "hérnia inguinal": "historical"}),
    ("Dor na face anterior da coxa.", {"Dor": "present"}),
    ("Tuberculose em 2010, tratada com rifampicina.", {"rifampicina": "historical"}),
    ("Medicada com bisoprolol 2,5 mg.", {"bisoprolol": "present"}),
    # Hypothetical: the drug or test given only if, before its condition; "SOS".
    ("Ondansetrona 4 mg se vómitos.", {"Ondansetrona": "hypothetical", "vómitos": "hypothetical"}),
    ("Dipirona 500 mg SOS\n- Omeprazol 20 mg", {"Dipirona": "hypothetical", "Omeprazol": "present"}),
    ("Pedir ecografia caso a dor persista.", {"ecografia": "hypothetical"}),
    # Possible: a diagnostic hypothesis as a key, a post-cue "provável" of one token.
    ("HD: pneumonia comunitária.\nPrescrito amoxicilina.", {"pneumonia": "possible", "amoxicilina": "present"}),
    ("Hipotese diagnostica: hepatite viral.", {"hepatite viral": "possible"}),
    ("Gastroenterite provável.", {"Gastroenterite": "possible"}),
    ("Dor torácica, provável angina instável.", {"Dor torácica": "present", "angina instável": "possible"}),
    ("A excluir meningite.", {"meningite": "possible"}),
    # A cue that overlaps its target from the side it reads; a denied family history; negation scopes cut short.
    ("Sem sinais de desidratação.", {"sinais de desidratação": "absent"}),
    ("Inexistência de derrame pleural.", {"derrame pleural": "absent"}),
    ("Nega antecedentes familiares de diabetes.", {"diabetes": "absent"}),
    ("Doente que nega febre recorre ao SU por dispneia.", {"febre": "absent", "dispneia": "present"}),
    ("Não tolerou a dieta e mantém vómitos.", {"vómitos": "present"}),
    ("Não houve melhoria da lombalgia.", {"lombalgia": "present"}),
    ("Ansiedade desde a morte do pai.", {"Ansiedade": "present"}),
]


@pytest.mark.parametrize("text, expected", SENTENCES, ids=[text[:40] for text, _ in SENTENCES])
def test_assertion_of_each_target(nlp, text, expected):
    doc = annotate(nlp, text, *expected)
    assert {span.text: span._.assertion for span in doc.spans["sc"]} == expected


def test_the_example_of_the_issue_sets_flags_and_the_cue(nlp):
    doc = annotate(nlp, "Nega febre. Refere dor torácica.", "febre", "dor torácica")
    febre, dor = doc.spans["sc"]
    assert (febre._.is_negated, febre._.assertion, febre._.assertion_cue.text) == (True, "absent", "Nega")
    assert (dor._.is_negated, dor._.assertion, dor._.assertion_cue) == (False, "present", None)
    assert set(ASSERTIONS) == {"present", "absent", "possible", "hypothetical", "historical", "family"}


def test_every_category_that_applies_is_flagged_and_the_precedence_decides(nlp):
    doc = annotate(nlp, "Pai sem história de asma.", "asma")
    (span,) = doc.spans["sc"]
    assert (span._.is_family, span._.is_negated, span._.is_historical) == (True, True, True)
    assert (span._.assertion, span._.assertion_cue.text) == ("family", "Pai")
    doc = annotate(nlp, "Se suspeita de dengue, retornar.", "dengue")
    (span,) = doc.spans["sc"]
    assert (span._.is_hypothetical, span._.is_uncertain, span._.assertion) == (True, True, "hypothetical")


def test_the_nearest_cue_of_a_category_wins_and_a_run_resets_earlier_values(nlp):
    doc = annotate(nlp, "Sem evidência de derrame, sem pneumonia.", "derrame", "pneumonia")
    assert [s._.assertion_cue.text for s in doc.spans["sc"]] == ["Sem evidência de", "sem"]
    doc = annotate(nlp, "Sem febre.", "febre")
    doc.spans["sc"][0]._.assertion = "family"
    nlp.get_pipe("clinical_context")(doc)
    assert doc.spans["sc"][0]._.assertion == "absent"


def test_the_clinical_tokenizer_and_doc_ents(nlp):
    nlp = clinical_nlp()
    nlp.add_pipe("clinical_context", config={"use_ents": True, "spans_key": "ents_only"})
    doc = nlp.make_doc("DISPNEIA.NEGA FEBRE E TOSSE")
    doc.ents = [Span(doc, 3, 4, label="Problema"), Span(doc, 5, 6, label="Problema")]
    doc = nlp.get_pipe("clinical_context")(doc)
    assert [(e.text, e._.assertion) for e in doc.ents] == [("FEBRE", "absent"), ("TOSSE", "absent")]


def test_max_scope_from_the_config_limits_rules_without_their_own():
    nlp = spacy.blank("pt")
    nlp.add_pipe("clinical_context", config={"max_scope": 2})
    doc = annotate(nlp, "Nega febre alta e tosse.", "febre alta", "tosse")
    assert [s._.assertion for s in doc.spans["sc"]] == ["absent", "present"]


def test_sections_can_be_turned_off():
    nlp = spacy.blank("pt")
    nlp.add_pipe("clinical_context", config={"sections": False})
    doc = annotate(nlp, "ANTECEDENTES FAMILIARES:\nDM.\nAlergias: nenhuma", "DM", "Alergias")
    assert [s._.assertion for s in doc.spans["sc"]] == ["present", "present"]


def medspacy_file(path, rules):
    path.write_text(json.dumps({"context_rules": rules}), encoding="utf-8")
    return str(path)


def test_extra_rules_add_to_the_default_and_rules_replace_it(tmp_path):
    extra = medspacy_file(tmp_path / "extra.json", [{"literal": "improvável", "category": "NEGATED_EXISTENCE", "direction": "BACKWARD"}])
    nlp = spacy.blank("pt")
    nlp.add_pipe("clinical_context", config={"extra_rules": extra})
    doc = annotate(nlp, "Sepse improvável. Nega febre.", "Sepse", "febre")
    assert [s._.assertion for s in doc.spans["sc"]] == ["absent", "absent"]
    nlp = spacy.blank("pt")
    nlp.add_pipe("clinical_context", config={"rules": extra})
    doc = annotate(nlp, "Sepse improvável. Nega febre.", "Sepse", "febre")
    assert [s._.assertion for s in doc.spans["sc"]] == ["absent", "present"]


def test_a_medspacy_english_rule_file_works_with_its_allowed_types_and_terminators(tmp_path):
    rules = medspacy_file(
        tmp_path / "context_rules.json",
        [
            {"literal": "no evidence of", "category": "DEFINITE_NEGATED_EXISTENCE", "direction": "FORWARD"},
            {"literal": "but", "category": "CONJ", "direction": "TERMINATE"},
            {"literal": "history of", "category": "HISTORICAL", "direction": "FORWARD", "allowed_types": ["PROBLEM"]},
        ],
    )
    nlp = spacy.blank("en")
    nlp.add_pipe("clinical_context", config={"rules": rules})
    doc = annotate(nlp, "No evidence of CHF but there is pneumonia.", "CHF", "pneumonia", label="PROBLEM")
    assert [s._.assertion for s in doc.spans["sc"]] == ["absent", "present"]
    doc = annotate(nlp, "History of aspirin.", "aspirin", label="DRUG")
    assert doc.spans["sc"][0]._.assertion == "present"


def test_a_terminator_of_one_category_stops_only_that_category():
    rules = [
        ContextRule("nega", "NEGATED_EXISTENCE", "FORWARD"),
        ContextRule("história de", "HISTORICAL", "FORWARD"),
        ContextRule("atualmente", "HISTORICAL", "TERMINATE"),
    ]
    nlp = spacy.blank("pt")
    context = ClinicalContext(nlp, rules=rules)
    doc = nlp.make_doc("História de asma, nega atualmente tosse.")
    doc.spans["sc"] = [Span(doc, 2, 3, label="Problema"), Span(doc, 6, 7, label="Problema")]
    doc = context(doc)
    tosse = doc.spans["sc"][1]
    assert (tosse._.is_negated, tosse._.is_historical) == (True, False)


def test_a_bad_rule_file_in_the_config_names_the_file_and_rule(tmp_path):
    bad = medspacy_file(tmp_path / "bad.json", [{"literal": "nega", "category": "NEGATED", "direction": "UP"}])
    with pytest.raises(ValueError, match=r"bad\.json: rule 0: 'direction' must be one of"):
        spacy.blank("pt").add_pipe("clinical_context", config={"rules": bad})
    with pytest.raises(ValueError, match="max_scope must be a positive integer"):
        spacy.blank("pt").add_pipe("clinical_context", config={"max_scope": 0})


def test_a_saved_pipeline_keeps_its_rules_without_the_rule_file(tmp_path):
    extra = tmp_path / "extra.json"
    medspacy_file(extra, [{"literal": "improvável", "category": "NEGATED_EXISTENCE", "direction": "BACKWARD"}])
    nlp = spacy.blank("pt")
    nlp.add_pipe("clinical_context", config={"extra_rules": str(extra)})
    nlp.to_disk(tmp_path / "pipeline")
    extra.unlink()
    loaded = spacy.load(tmp_path / "pipeline", config={"components": {"clinical_context": {"extra_rules": None}}})
    assert loaded.get_pipe("clinical_context").rules == nlp.get_pipe("clinical_context").rules
    doc = annotate(loaded, "Sepse improvável.", "Sepse")
    assert doc.spans["sc"][0]._.assertion == "absent"


def test_a_doc_without_targets_is_returned_unchanged(nlp):
    doc = nlp("Nega febre.")
    assert "sc" not in doc.spans
    assert isinstance(make_clinical_context(nlp, "c", "sc", False, "default", None, None, True), ClinicalContext)


def test_the_assertion_and_its_cue_survive_a_docbin_and_a_join(nlp):
    """Only plain values go to doc.user_data (the cue as token offsets): a Span kept there could not be written by
    DocBin nor copied by `Doc.from_docs` (E112), which `annotate` uses to join the pieces of a long note."""
    from spacy.tokens import Doc, DocBin

    doc = annotate(nlp, "Nega febre. Refere dor torácica.", "febre", "dor torácica")
    (read,) = DocBin(store_user_data=True, docs=[doc]).from_bytes(
        DocBin(store_user_data=True, docs=[doc]).to_bytes()).get_docs(nlp.vocab)
    assert [(s.text, s._.assertion, str(s._.assertion_cue)) for s in read.spans["sc"]] == [
        ("febre", "absent", "Nega"), ("dor torácica", "present", "None")]
    joined = Doc.from_docs([doc, doc])
    assert len(joined) == 2 * len(doc)

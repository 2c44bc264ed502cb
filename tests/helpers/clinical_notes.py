"""Hand-written clinical notes and a small tagger model shared by the tests (no patient text)."""

from spacy_clinical_pt.corpus import Entity, Record

# Hand-written notes; each entity is (text inside the note, label), found left to right. Anatomia often sits
# inside a Problema or a Teste, as in NestedClinBr.
NOTES = [
    ("Paciente refere dor no peito há dois dias.", [("dor no peito", "Problema"), ("peito", "Anatomia")]),
    ("Nega febre. Em uso de losartana 50mg.", [("febre", "Problema"), ("losartana", "Tratamento")]),
    ("Raio-x de tórax sem alterações.", [("Raio-x de tórax", "Teste"), ("tórax", "Anatomia")]),
    ("Edema em membro inferior esquerdo.", [("Edema em membro inferior esquerdo", "Problema"),
                                            ("membro inferior esquerdo", "Anatomia")]),
    ("Iniciado captopril e furosemida.", [("captopril", "Tratamento"), ("furosemida", "Tratamento")]),
    ("Hemograma normal, creatinina 1,2.", [("Hemograma", "Teste"), ("creatinina", "Teste")]),
    ("Dor abdominal intensa e náusea.", [("Dor abdominal intensa", "Problema"), ("abdominal", "Anatomia"),
                                         ("náusea", "Problema")]),
    ("Sem queixas hoje.", []),
    ("Ecocardiograma mostra fração de ejeção reduzida.", [("Ecocardiograma", "Teste"),
                                                          ("fração de ejeção reduzida", "Problema")]),
    ("Tosse seca há uma semana, sem febre.", [("Tosse seca", "Problema"), ("febre", "Problema")]),
    ("Prescrito omeprazol para dor no estômago.", [("omeprazol", "Tratamento"), ("dor no estômago", "Problema"),
                                                   ("estômago", "Anatomia")]),
    ("Tomografia de crânio sem lesões.", [("Tomografia de crânio", "Teste"), ("crânio", "Anatomia")]),
]


def note_records():
    """NOTES as Records, entity offsets found left to right."""
    for number, (text, entities) in enumerate(NOTES):
        found, cursor = [], {}
        for piece, label in entities:
            start = text.index(piece, cursor.get(piece, 0))
            cursor[piece] = start + 1
            found.append(Entity(start, start + len(piece), label, id=f"T{len(found) + 1}"))
        yield Record(f"note{number}", text, found)


# A narrow CNN tagger: fast to initialise and train in tests.
SMALL_TAGGER_MODEL = {
    "@architectures": "spacy_clinical_pt.MultilabelTokenTagger.v1",
    "nO": None,
    "tok2vec": {
        "@architectures": "spacy.HashEmbedCNN.v2",
        "pretrained_vectors": None,
        "width": 32,
        "depth": 2,
        "embed_size": 500,
        "window_size": 1,
        "maxout_pieces": 2,
        "subword_features": True,
    },
}

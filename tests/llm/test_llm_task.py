"""The spacy-llm task `spacy_clinical_pt.ClinicalNER.v1`: prompt, reply parsing, alignment and accounting."""

import json
import logging
import re
from typing import Iterable, List

import pytest
from spacy.tokens import DocBin
from spacy_llm.registry import registry
from spacy_llm.util import assemble

from spacy_clinical_pt.llm.task import locate, make_clinical_ner_task, parse_reply
from spacy_clinical_pt.llm.usage import USAGE_KEY, ChatResponse

LABELS = ["Problema", "Tratamento", "Teste"]
NOTE = "Paciente com dor torácica. Nega febre. ECG normal. Iniciado AAS 100 mg. Refere febre à noite."
EXAMPLE = {
    "text": "Queixa de cefaleia. Prescrito dipirona.",
    "entities": [{"label": "Problema", "text": "cefaleia"}, {"label": "Tratamento", "text": "dipirona"}],
}
# Training notes for the DocBin example: (doc id, text, [(entity text, label)...]).
TRAINING = [
    ("longa", "Dor no peito há dois dias, iniciado AAS e solicitado ECG de repouso.",
     [("Dor no peito", "Problema"), ("peito", "Anatomia"), ("AAS", "Tratamento"), ("ECG", "Teste")]),
    ("sem_teste", "Febre. Dipirona.", [("Febre", "Problema"), ("Dipirona", "Tratamento")]),
    ("curta", "Dor no peito. AAS. ECG.",
     [("Dor no peito", "Problema"), ("peito", "Anatomia"), ("AAS", "Tratamento"), ("ECG", "Teste")]),
    ("empate", "Dor no braço. AAS. ECG.", [("Dor no braço", "Problema"), ("AAS", "Tratamento"), ("ECG", "Teste")]),
]


def reply(*entities) -> str:
    """A well-formed reply: a JSON list of {"label", "text"} from (label, text) pairs."""
    return json.dumps([{"label": label, "text": text} for label, text in entities], ensure_ascii=False)


def chat(task, doc) -> List[dict]:
    (messages,) = list(task.generate_prompts([doc]))
    return messages


@pytest.fixture
def train_path(nlp, tmp_path):
    """A training DocBin with document ids and gold spans in doc.spans["sc"]."""
    docbin = DocBin(store_user_data=True)
    for identifier, text, entities in TRAINING:
        doc = nlp.make_doc(text)
        starts = [text.index(piece) for piece, _ in entities]
        doc.spans["sc"] = [
            doc.char_span(start, start + len(piece), label=label) for start, (piece, label) in zip(starts, entities)
        ]
        doc.user_data["clinical_pt"] = {"doc_id": identifier, "entities": {}}
        docbin.add(doc)
    path = tmp_path / "train.spacy"
    docbin.to_disk(path)
    return path


def test_few_shot_prompt_holds_labels_example_and_note(nlp):
    task = make_clinical_ner_task("Problema, Tratamento, Teste", example=EXAMPLE)
    system, user = chat(task, nlp.make_doc(NOTE))
    assert system["role"] == "system" and user["role"] == "user"
    assert system["content"].startswith(
        "Extract the following entities from the given clinical note in order of appearance. Use exact text for "
        "extractions. Do not paraphrase or overlap entities. The entities to extract are: Problema, Tratamento, "
        "Teste. See the examples below for the expected format.\n\n# Clinical note example:\n"
    )
    assert EXAMPLE["text"] in system["content"]
    assert system["content"].endswith(
        '# Ideal response example:\n[{"label": "Problema", "text": "cefaleia"}, '
        '{"label": "Tratamento", "text": "dipirona"}]'
    )
    assert user["content"] == f"# Clinical note:\n{NOTE}"
    assert task.labels == ("Problema", "Tratamento", "Teste")


def test_zero_shot_prompt_has_no_example_section(nlp):
    system, _ = chat(make_clinical_ner_task(LABELS), nlp.make_doc(NOTE))
    assert "Problema, Tratamento, Teste." in system["content"]
    assert "example" not in system["content"] and "#" not in system["content"]
    assert 'JSON list of objects with the keys "label" and "text"' in system["content"]


def test_own_templates_from_a_folder(nlp, tmp_path):
    (tmp_path / "clinical_ner.system.jinja").write_text("Rótulos: {{ entities }}", encoding="utf8")
    (tmp_path / "clinical_ner.user.jinja").write_text("Nota: {{ input_text }}", encoding="utf8")
    system, user = chat(make_clinical_ner_task(LABELS, template_dir=str(tmp_path)), nlp.make_doc("Nega febre."))
    assert (system["content"], user["content"]) == ("Rótulos: Problema, Tratamento, Teste", "Nota: Nega febre.")


def test_example_from_docbin_is_the_shortest_note_with_every_label(nlp, train_path):
    task = make_clinical_ner_task(LABELS, example_path=str(train_path))
    system, _ = chat(task, nlp.make_doc(NOTE))
    # "curta" and "empate" are as short; "curta" comes first. Anatomia is not asked for, so it is left out;
    # entities in order of appearance.
    assert "# Clinical note example:\nDor no peito. AAS. ECG.\n" in system["content"]
    assert system["content"].endswith(
        reply(("Problema", "Dor no peito"), ("Tratamento", "AAS"), ("Teste", "ECG"))
    )


def test_example_from_docbin_by_id_or_first(nlp, train_path):
    by_id = make_clinical_ner_task(LABELS + ["Anatomia"], example_path=train_path, example_id="longa")
    system, _ = chat(by_id, nlp.make_doc(NOTE))
    # A nesting entity comes before the one inside it.
    assert system["content"].endswith(
        reply(("Problema", "Dor no peito"), ("Anatomia", "peito"), ("Tratamento", "AAS"), ("Teste", "ECG"))
    )
    first = make_clinical_ner_task(["Problema"], example_path=train_path, example_select="first")
    assert "Dor no peito há dois dias" in chat(first, nlp.make_doc(NOTE))[0]["content"]


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"labels": []}, "at least one entity label"),
        ({"labels": "Problema,,Teste"}, "no empty name"),
        ({"example_path": "nao_existe.spacy"}, "no such file"),
        ({"example_id": "longa"}, "needs example_path"),
        ({"example_path": "TRAIN", "example_id": "nota99"}, "no document with id 'nota99'"),
        ({"labels": ["Problema", "Ocupação"], "example_path": "TRAIN"}, "no document holds every label"),
        ({"example_path": "TRAIN", "example_select": "longest"}, "example_select must be one of"),
        ({"example": {"text": "Nega febre.", "entities": [{"label": "Problema"}]}}, 'example["entities"][0]'),
        ({"example": EXAMPLE, "example_path": "TRAIN"}, "not both"),
        ({"template_dir": "sem_templates"}, "prompt template not found"),
    ],
)
def test_bad_settings_fail_with_a_clear_message(settings, message, train_path):
    settings = {"labels": LABELS, **settings}
    if settings.get("example_path") == "TRAIN":
        settings["example_path"] = train_path
    with pytest.raises((ValueError, FileNotFoundError), match=re.escape(message)):
        make_clinical_ner_task(**settings)


@pytest.mark.parametrize(
    "text, expected_items, invalid",
    [
        (reply(("Problema", "febre"), ("Teste", "ECG")), [("Problema", "febre"), ("Teste", "ECG")], 0),
        ("```json\n" + reply(("Problema", "febre")) + "\n```", [("Problema", "febre")], 0),
        ("Entidades [1]:\n```\n" + reply(("Problema", "febre")) + "\n```", [("Problema", "febre")], 0),
        ('{"label": "Problema", "text": "febre"}', [("Problema", "febre")], 0),
        ('{"entities": ' + reply(("Teste", "ECG")) + "}", [("Teste", "ECG")], 0),
        (reply(("Problema", "febre")) + "\nEstas são as entidades encontradas {ok}.", [("Problema", "febre")], 0),
        ("Segue a resposta: " + reply(("Teste", "ECG")), [("Teste", "ECG")], 0),
        ("[]", [], 0),
        (
            '[{"label": "Problema", "text": "febre"}, {"label": "Teste"}, {"label": 3, "text": "ECG"}, '
            '"AAS", {"label": "Teste", "text": "  "}]',
            [("Problema", "febre")],
            4,
        ),
    ],
)
def test_parse_reply_reads_the_usual_reply_shapes(text, expected_items, invalid):
    items, error, invalid_items = parse_reply(text)
    assert error is None
    assert [(item["label"], item["text"]) for item in items] == expected_items
    assert invalid_items == invalid


@pytest.mark.parametrize(
    "text, reason",
    [
        ('[{"label": "Problema" "text": "febre"}]', "malformed JSON"),
        ('[{"label": "Problema", "text": "febre"}, {"label": "Te', "unterminated JSON"),
        ("Não encontrei entidades.", "no JSON list or object"),
        ('{"resposta": "nenhuma"}', "JSON object with 1 key holds no list of entities"),
        ('{"dor torácica há dois dias": "Problema"}', "JSON object with 1 key holds no list of entities"),
        ('[{"entidade": "febre", "tipo": "Problema"}, "febre"]',
         'none of the 2 items of the reply is a {"label", "text"} object'),
        ("  ", "empty reply"),
        ("[" * 5000 + "]" * 5000, "JSON nested too deeply (5000 levels)"),
        ('[{"label": "Problema", "text": "febre", "n": ' + "9" * 5000 + "}]",
         "an integer of 5000 digits (Python reads at most 4300)"),
    ],
)
def test_parse_reply_gives_a_reason_instead_of_raising(text, reason):
    items, error, invalid_items = parse_reply(text)
    assert items == []
    assert reason in error and "febre" not in error and "torácica" not in error


def test_locate_follows_the_order_of_the_reply():
    items = [
        {"label": "Problema", "text": "dor torácica"},
        {"label": "Problema", "text": " febre "},
        {"label": "Problema", "text": "febre"},
        {"label": "Teste", "text": "ecg normal"},
        {"label": "Problema", "text": "cefaleia"},
        {"label": "Medicamento", "text": "AAS"},
        {"label": "problema", "text": "febre"},
    ]
    found, counts = locate(NOTE, items, LABELS)
    first_fever, second_fever = NOTE.index("febre"), NOTE.rindex("febre")
    assert found == [
        (13, 25, "Problema"),
        (first_fever, first_fever + 5, "Problema"),
        (second_fever, second_fever + 5, "Problema"),  # the second "febre": the first one is taken
        (39, 49, "Teste"),  # "ECG normal": not after the second "febre", so from the start, ignoring case
    ]
    assert counts == {"exact": 3, "case_insensitive": 1, "hallucinations": 1, "type_errors": 2}


def test_locate_finds_a_nested_entity_inside_the_previous_one():
    text = "Dor no peito ao esforço; peito sem abaulamentos."
    found, _ = locate(text, [{"label": "Problema", "text": "Dor no peito"}, {"label": "Anatomia", "text": "peito"}],
                      ["Problema", "Anatomia"])
    assert found == [(0, 12, "Problema"), (7, 12, "Anatomia")]


def test_reply_becomes_spans_and_accounting(nlp):
    task = make_clinical_ner_task(LABELS, example=EXAMPLE)
    doc = nlp.make_doc(NOTE)
    doc.user_data["clinical_pt"] = {"doc_id": "nota1", "entities": {}}
    response = ChatResponse(
        text=reply(
            ("Problema", "dor torácica"), ("Teste", "ECG"), ("Tratamento", "AAS 100 mg"), ("Tratamento", "AAS 100 mg"),
            ("Problema", "sangramento digestivo"), ("Problema", "dor torácica"),
        ),
        model="modelo-teste", latency_s=1.5, prompt_tokens=120, completion_tokens=30, cost_usd=0.002,
    )
    (annotated,) = task.parse_responses([doc], [[response]])
    spans = annotated.spans["sc"]
    assert [(span.text, span.label_) for span in spans] == [
        ("dor torácica", "Problema"), ("ECG", "Teste"), ("AAS 100 mg", "Tratamento")
    ]
    assert spans.attrs["scores"].tolist() == [1.0, 1.0, 1.0]
    usage = annotated.user_data[USAGE_KEY]
    assert {key: usage[key] for key in ("model", "latency_s", "prompt_tokens", "completion_tokens",
                                        "total_tokens", "cost_usd", "cached", "attempts")} == {
        "model": "modelo-teste", "latency_s": 1.5, "prompt_tokens": 120, "completion_tokens": 30,
        "total_tokens": 150, "cost_usd": 0.002, "cached": False, "attempts": 1,
    }
    # The second "AAS 100 mg" and "dor torácica" have no second occurrence: they land on the first ones.
    assert {key: usage[key] for key in ("extracted", "spans", "exact", "hallucinations", "duplicates")} == {
        "extracted": 6, "spans": 3, "exact": 5, "hallucinations": 1, "duplicates": 2,
    }
    assert usage["parse_error"] is None and usage["request_error"] is None
    assert "sangramento" not in json.dumps(usage)  # hallucinated text is not stored


def test_a_plain_string_reply_and_overlapping_labels(nlp):
    task = make_clinical_ner_task(["Problema", "Anatomia"])
    doc = nlp.make_doc("Dor no peito há dois dias.")
    fenced = "```json\n" + reply(("Problema", "Dor no peito"), ("Anatomia", "peito")) + "\n```"
    (annotated,) = task.parse_responses([doc], [fenced])  # a bare str, as spacy-llm's own models return
    assert [(span.text, span.label_) for span in annotated.spans["sc"]] == [
        ("Dor no peito", "Problema"), ("peito", "Anatomia")
    ]
    usage = annotated.user_data[USAGE_KEY]
    assert "prompt_tokens" not in usage and usage["spans"] == 2


def test_bad_replies_are_counted_and_logged_without_text(nlp, caplog):
    task = make_clinical_ner_task(LABELS)
    docs = [nlp.make_doc(NOTE), nlp.make_doc("Nega febre.")]
    docs[0].user_data["clinical_pt"] = {"doc_id": "nota7", "entities": {}}
    replies = [
        [ChatResponse(text="", error="timeout after 3 attempts", attempts=3)],
        [ChatResponse(text='[{"label": "Problema", "text": "febre"')],
    ]
    with caplog.at_level(logging.WARNING, logger="spacy_clinical_pt.llm.task"):
        failed, cut = task.parse_responses(docs, replies)
    assert len(failed.spans["sc"]) == 0 and len(cut.spans["sc"]) == 0
    assert failed.user_data[USAGE_KEY]["request_error"] == "timeout after 3 attempts"
    assert failed.user_data[USAGE_KEY]["parse_error"] is None
    assert "unterminated JSON" in cut.user_data[USAGE_KEY]["parse_error"]
    assert "doc 'nota7'" in caplog.messages[0] and "timeout" in caplog.messages[0]
    assert "doc #1 of the batch" in caplog.messages[1]
    assert not any("febre" in message or "torácica" in message for message in caplog.messages)


@registry.llm_models("test.Canned.v1")
def make_canned_model(replies: List[str]):
    """A fake chat model: the i-th prompt gets the i-th canned reply, as a ChatResponse with token counts."""

    def canned(prompts: Iterable[Iterable[list]]) -> Iterable[Iterable[ChatResponse]]:
        return [
            [ChatResponse(text=text, model="canned", prompt_tokens=200, completion_tokens=20) for _ in chats]
            for text, chats in zip(replies, prompts)
        ]

    return canned


def write_config(path, model: str, train_path) -> None:
    path.write_text(
        f"""
[nlp]
lang = "pt"
pipeline = ["llm"]

[components]

[components.llm]
factory = "llm"
save_io = true

[components.llm.task]
@llm_tasks = "spacy_clinical_pt.ClinicalNER.v1"
labels = {json.dumps(LABELS)}
example_path = "{train_path}"

[components.llm.model]
{model}
""",
        encoding="utf8",
    )


def test_assembled_pipeline_annotates_notes(tmp_path, train_path):
    replies = [reply(("Problema", "dor torácica"), ("Teste", "ECG")), "Nenhuma entidade."]
    write_config(
        tmp_path / "llm.cfg", f'@llm_models = "test.Canned.v1"\nreplies = {json.dumps(replies, ensure_ascii=False)}',
        train_path,
    )
    nlp = assemble(tmp_path / "llm.cfg")
    first, second = nlp.pipe([NOTE, "Sem queixas."])
    assert [(span.text, span.label_) for span in first.spans["sc"]] == [("dor torácica", "Problema"), ("ECG", "Teste")]
    assert first.user_data[USAGE_KEY]["total_tokens"] == 220 and first.user_data[USAGE_KEY]["model"] == "canned"
    assert "Dor no peito. AAS. ECG." in first.user_data["llm_io"]["llm"]["prompt"]  # the DocBin example
    assert len(second.spans["sc"]) == 0
    assert second.user_data[USAGE_KEY]["parse_error"] == "no JSON list or object in the reply"


class Forgettable(ChatResponse):
    """A reply that records whether the task took it out of the client's cache."""

    forgotten = False

    def forget(self) -> None:
        self.forgotten = True


def test_an_unreadable_reply_is_taken_out_of_the_cache_a_readable_one_is_not(nlp):
    task = make_clinical_ner_task(LABELS)
    docs = [nlp.make_doc(NOTE), nlp.make_doc("Nega febre."), nlp.make_doc("Sem queixas.")]
    replies = [Forgettable(text='[{"label": "Problema", "text": "febre"'),
               Forgettable(text=reply(("Problema", "febre"))), Forgettable(text="[]")]
    list(task.parse_responses(docs, [[response] for response in replies]))
    assert [response.forgotten for response in replies] == [True, False, False]
    # a reply Python's parser cannot read (too deep): no crash, and asked again on a rerun
    deep = Forgettable(text="[" * 5000 + "]" * 5000)
    (doc,) = task.parse_responses(docs[:1], [[deep]])
    assert deep.forgotten and doc.user_data[USAGE_KEY]["parse_error"] == "JSON nested too deeply (5000 levels)"


def test_a_template_that_does_not_parse_names_its_file_and_line(tmp_path):
    (tmp_path / "clinical_ner.system.jinja").write_text("Rótulos:\n{{ entities ", encoding="utf8")
    (tmp_path / "clinical_ner.user.jinja").write_text("Nota: {{ input_text }}", encoding="utf8")
    with pytest.raises(ValueError, match=re.escape(f"{tmp_path / 'clinical_ner.system.jinja'}:line 2: the "
                                                   "template does not parse (unexpected end of template")):
        make_clinical_ner_task(LABELS, template_dir=str(tmp_path))


def test_no_log_record_holds_more_than_an_excerpt_of_a_note(tmp_path, train_path, caplog):
    """spacy-llm logs every prompt and reply whole at DEBUG level, save_io or not."""
    replies = [reply(("Problema", "dor torácica"), ("Teste", "ECG")), "Nenhuma entidade."]
    write_config(
        tmp_path / "llm.cfg", f'@llm_models = "test.Canned.v1"\nreplies = {json.dumps(replies, ensure_ascii=False)}',
        train_path,
    )
    caplog.set_level(logging.DEBUG)
    nlp = assemble(tmp_path / "llm.cfg")
    list(nlp.pipe([NOTE, "Sem queixas."]))
    spacy_llm_records = [record for record in caplog.records if record.name == "spacy_llm"]
    assert [record.getMessage() for record in spacy_llm_records][:2] == [
        f"Generated prompt for doc: <{len(NOTE)} characters withheld>\n<list withheld>",
        f"LLM response for doc: <{len(NOTE)} characters withheld>\n<list withheld>",
    ]
    example = TRAINING[2][1]  # the few-shot example is a note too
    for record in caplog.records:
        message = record.getMessage()
        assert not any(NOTE[start:start + 41] in message for start in range(len(NOTE) - 40)), record.name
        assert example not in message, record.name


def test_assembled_with_spacy_llm_noop_model(tmp_path, train_path):
    write_config(tmp_path / "noop.cfg", '@llm_models = "spacy.NoOp.v1"', train_path)
    with pytest.warns(UserWarning, match="doesn't match type"):  # NoOp expects string prompts
        nlp = assemble(tmp_path / "noop.cfg")
    doc = nlp(NOTE)
    assert len(doc.spans["sc"]) == 0 and doc.user_data[USAGE_KEY]["parse_error"] == "empty reply"

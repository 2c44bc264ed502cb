"""LLM baselines end to end against the fake OpenAI-compatible server: scores, Table 4, cache, compare, silver data,
and the preset configs (`llm-presets` writes them; `configs/llm/local.cfg` does not drift from `presets.py`; remote
ones refuse without opt-in)."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import spacy
from helpers import invoke
from helpers.llm_server import FakeLLMServer, Reply, usage, user_message
from spacy.tokens import DocBin
from spacy.training import Example

from helpers.clinical_notes import SMALL_TAGGER_MODEL
from spacy_clinical_pt.compare import load_run
from spacy_clinical_pt.convert import load_docs
from spacy_clinical_pt.corpus import ConversionReport, Entity, Record, build_docs, doc_id
from spacy_clinical_pt.llm.baseline import load_llm_pipeline
from spacy_clinical_pt.llm.presets import PRESETS, config_files, render_config
from spacy_clinical_pt.llm.table4 import table4, table4_rows
from spacy_clinical_pt.llm.usage import usage_summary
from spacy_clinical_pt.tokenizer import clinical_nlp

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "configs" / "llm"
SECRET = "sk-test-not-a-real-key-0c1d"

# The few-shot example: the one training note holding all four labels.
TRAIN = [("treino1", "Dor no peito; iniciado captopril após eletrocardiograma.",
          [("Dor no peito", "Problema"), ("peito", "Anatomia"), ("captopril", "Tratamento"),
           ("eletrocardiograma", "Teste")])]
TEST = [
    ("n1", "Paciente refere dor no peito há dois dias.", [("dor no peito", "Problema"), ("peito", "Anatomia")]),
    ("n2", "Nega febre. Em uso de losartana 50mg.", [("febre", "Problema"), ("losartana", "Tratamento")]),
    ("n3", "Raio-x de tórax sem alterações.", [("Raio-x de tórax", "Teste"), ("tórax", "Anatomia")]),
    ("n4", "Iniciado captopril e furosemida.", [("captopril", "Tratamento"), ("furosemida", "Tratamento")]),
]
# Canned replies per test note and their usage (prompt, completion, reasoning tokens):
# n1: both entities, plus "dor abdominal", a hallucination; n2: in ```json fences, "losartana 50mg" too long (a
# strict false positive and a miss), "Medicamento" outside the schema (a type error); n3: "raio-x de tórax" found
# only ignoring case; n4: malformed JSON (a parse error: both entities missed). n1 is first answered 429.
REPLIES = {
    "n1": ('[{"label": "Problema", "text": "dor no peito"}, {"label": "Anatomia", "text": "peito"}, '
           '{"label": "Problema", "text": "dor abdominal"}]', (1200, 80, 20)),
    "n2": ('```json\n[{"label": "Problema", "text": "febre"}, {"label": "Tratamento", "text": "losartana 50mg"}, '
           '{"label": "Medicamento", "text": "losartana"}]\n```', (1500, 100, 0)),
    "n3": ('[{"label": "Teste", "text": "raio-x de tórax"}, {"label": "Anatomia", "text": "tórax"}]', (900, 60, 0)),
    "n4": ('[{"label": "Tratamento", "text": "captopril"', (1000, 40, 0)),
}


def docbin(path: Path, notes) -> Path:
    """Write notes [(id, text, [(entity text, label)...])] as a DocBin built like `convert` builds one.

    Entities are listed in order of appearance; a nested one is searched from the start of the one before it.
    """
    records = []
    for note_id, text, entities in notes:
        found, since = [], 0
        for piece, label in entities:
            since = text.index(piece, since)
            found.append(Entity(since, since + len(piece), label))
        records.append(Record(note_id, text, found))
    docs = build_docs(clinical_nlp(), records, ConversionReport())
    DocBin(store_user_data=True, docs=list(docs)).to_disk(path)
    return path


class CannedLLM:
    """Answers each note with its canned reply (chosen by the note text in the user message); n1 first gets a 429."""

    def __init__(self, replies: dict[str, tuple[str, tuple[int, int, int]]], notes):
        self.by_text = {text: replies[note_id] for note_id, text, _ in notes}
        self.ids = {text: note_id for note_id, text, _ in notes}
        self.pending_429 = {"n1"}

    def __call__(self, body: dict) -> Reply:
        message = user_message(body)
        text = next(t for t in self.by_text if t in message)
        if self.ids[text] in self.pending_429:
            self.pending_429.discard(self.ids[text])
            return Reply(status=429, content="Rate limit reached", headers={"Retry-After": "0"})
        content, (prompt, completion, reasoning) = self.by_text[text]
        return Reply(content=content, usage=usage(prompt, completion, reasoning))


@pytest.fixture(scope="module")
def presets(tmp_path_factory) -> Path:
    """The preset configs, written by `spacy-clinical-pt llm-presets -o DIR` (configs/llm holds only local.cfg)."""
    folder = tmp_path_factory.mktemp("presets")
    result = invoke("llm-presets", "-o", folder)
    assert result.exit_code == 0, result.output
    return folder


@pytest.fixture
def corpus(tmp_path, presets):
    return {"train": docbin(tmp_path / "train.spacy", TRAIN), "test": docbin(tmp_path / "test.spacy", TEST),
            "config": presets / "gpt-5-minimal.cfg"}


def run_baseline(server, corpus, output, *extra):
    args = [
        "llm-baseline", str(corpus["config"]), str(corpus["test"]), "--output", str(output),
        "--examples", str(corpus["train"]), "--corpus", "toy",
        "--set", f"components.llm.model.base_url={server.base_url}",
        "--set", f"components.llm.model.cache_dir={output.parent / 'cache'}",
        "--set", "components.llm.model.backoff=0", *extra,
    ]
    return invoke(*args)


def test_llm_baseline_scores_counts_costs_and_table4(tmp_path, corpus, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    output = tmp_path / "runs" / "gpt5"
    with FakeLLMServer(CannedLLM(REPLIES, TEST)) as server:
        result = run_baseline(server, corpus, output)
    assert result.exit_code == 0, result.output
    assert len(server.requests) == 5  # 4 notes, n1 twice (429, then its reply)
    first = server.requests[0]
    assert first.body["model"] == "gpt-5" and first.body["reasoning_effort"] == "minimal"
    assert "temperature" not in first.body  # GPT-5 rejects one
    assert first.headers["authorization"] == f"Bearer {SECRET}"
    assert "Dor no peito; iniciado captopril" in first.body["messages"][0]["content"]  # the few-shot example

    m = json.loads((output / "metrics.json").read_text(encoding="utf8"))
    assert m["pipeline_kind"] == "spans" and m["threshold"]["policy"] == "output"
    # Entity level: n1 2 TP, n2 "febre" TP + "losartana 50mg" FP (gold "losartana" FN), n3 2 TP, n4 2 FN.
    strict = m["entity"]["strict"]
    assert (strict["tp"], strict["fp"], strict["fn"]) == (5, 1, 3)
    assert strict["micro"]["f1"] == pytest.approx(2 * 5 / (2 * 5 + 1 + 3))  # 5/7
    # Token level (IO): Problema 4/4 tokens, Anatomia 2/2, Teste 3/3 ("Raio-x", "de", "tórax"); Tratamento:
    # "losartana" TP, "50" "mg" FP, "captopril" "furosemida" FN.
    token = m["token"]["IO"]
    assert (token["micro"]["tp"], token["micro"]["fp"], token["micro"]["fn"]) == (10, 2, 2)
    assert token["micro"]["f1"] == pytest.approx(10 / 12)
    assert token["per_label"]["Tratamento"]["f1"] == pytest.approx(1 / 3)
    assert token["macro"]["f1"] == pytest.approx((1 + 1 + 1 + 1 / 3) / 4)

    llm = m["llm"]
    assert llm["extraction"] == {
        "extracted": 8, "spans": 6, "exact": 5, "case_insensitive": 1, "hallucinations": 1, "type_errors": 1,
        "invalid_items": 0, "duplicates": 0, "unaligned": 0, "parse_errors": 1, "request_errors": 0,
    }
    used = llm["usage"]
    assert (used["requests"], used["responses"], used["attempts"], used["cached_responses"]) == (4, 4, 5, 0)
    assert (used["total_prompt_tokens"], used["total_completion_tokens"], used["total_reasoning_tokens"]) == (
        4600, 280, 20)
    assert used["total_tokens"] == 4880 and used["mean_total_tokens"] == pytest.approx(1220)
    prices = PRESETS["gpt-5-minimal"].prices
    assert llm["prices"] == prices and used["price_date"] == "2025-11-14"
    cost = (4600 * prices["input"] + 280 * prices["output"]) / 1e6
    assert cost == pytest.approx(0.00855)
    assert used["cost_usd"] == pytest.approx(cost) and used["cost_usd_paid"] == pytest.approx(cost)
    assert used["cost_per_1000_responses_usd"] == pytest.approx(cost / 4 * 1000)  # 2.1375
    assert m["provenance"]["label"] == "gpt-5-minimal" and m["provenance"]["corpus"] == "toy"

    table = (output / "table4.md").read_text(encoding="utf8")
    assert re.search(r"\| gpt-5 \(minimal\) \| \d+\.\d \| 1,220 \| 2\.14 \|", table), table
    assert table4_rows([output]) == [
        {"model": "gpt-5 (minimal)", "corpus": "toy", "responses": 4, "mean_time_s": used["mean_time_s"],
         "mean_total_tokens": 1220.0, "cost_per_1000_responses_usd": pytest.approx(2.1375),
         "price_date": "2025-11-14"}
    ]
    with open(output / "usage.csv", encoding="utf8") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["doc_id"] for row in rows] == ["n1", "n2", "n3", "n4"]
    assert [row["attempts"] for row in rows] == ["2", "1", "1", "1"]
    assert {k: rows[1][k] for k in ("prompt_tokens", "completion_tokens", "extracted", "spans", "type_errors")} == {
        "prompt_tokens": "1500", "completion_tokens": "100", "extracted": "3", "spans": "2", "type_errors": "1"}
    assert rows[3]["parse_error"].startswith("malformed JSON") or rows[3]["parse_error"].startswith("unterminated")
    # No note text and no key in anything written (the tokens of the notes' entities stand for the text).
    for path in output.iterdir():
        written = path.read_text(encoding="utf8")
        assert SECRET not in written, path.name
        for word in ("peito", "losartana", "tórax", "captopril", "Paciente"):
            assert word not in written, (path.name, word)
    assert "hallucinations 1, type errors 1" in result.output


def test_rerun_is_served_from_the_cache_with_the_same_scores_and_table4(tmp_path, corpus, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    with FakeLLMServer(CannedLLM(REPLIES, TEST)) as server:
        assert run_baseline(server, corpus, tmp_path / "runs" / "first").exit_code == 0
        requests = len(server.requests)
        again = run_baseline(server, corpus, tmp_path / "runs" / "again")
    assert again.exit_code == 0, again.output
    # Only n4 is asked again: its reply could not be read, so it was not kept in the cache.
    assert len(server.requests) == requests + 1
    assert "Tomografia" not in str(server.requests[-1].body) and TEST[3][1] in str(server.requests[-1].body)
    first, second = (json.loads((tmp_path / "runs" / run / "metrics.json").read_text()) for run in ("first", "again"))
    assert second["token"] == first["token"] and second["entity"] == first["entity"]
    assert second["llm"]["extraction"] == first["llm"]["extraction"]  # the same canned reply, unreadable again
    assert second["llm"]["usage"]["cached_responses"] == 3
    assert second["llm"]["usage"]["cost_usd_paid"] == pytest.approx((1000 * 1.25 + 40 * 10.0) / 1e6)  # n4 only
    tables = [(tmp_path / "runs" / run / "table4.md").read_text() for run in ("first", "again")]
    assert tables[0] == tables[1]


def test_notes_without_a_reply_are_recorded_with_their_reason_and_the_run_exits_3(tmp_path, corpus, monkeypatch):
    """n2's requests all fail, with an error message that quotes the note; the other notes are scored."""
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    canned = CannedLLM(REPLIES, TEST)

    def n2_fails(body: dict) -> Reply:
        if TEST[1][1] in user_message(body):
            return Reply(status=500, content=f"could not process {user_message(body)}", error_type="server_error")
        return canned(body)

    output = tmp_path / "runs" / "gpt5"
    with FakeLLMServer(n2_fails) as server:
        result = run_baseline(server, corpus, output, "--set", "components.llm.model.max_retries=1")
    assert result.exit_code == 3, result.output
    assert ("1 note without a reply, scored as finding nothing (rerun to retry it): n2: HTTP 500 Internal "
            "Server Error (server_error): could not process [prompt text] after 2 attempts") in result.output
    with open(output / "usage.csv", encoding="utf8") as handle:
        rows = list(csv.DictReader(handle))
    assert rows[1]["request_error"] == rows[1]["error"] == (
        "HTTP 500 Internal Server Error (server_error): could not process [prompt text] after 2 attempts")
    assert [row["request_error"] for row in rows[:1] + rows[2:]] == ["", "", ""]
    m = json.loads((output / "metrics.json").read_text(encoding="utf8"))
    assert m["llm"]["usage"]["request_errors"] == 1 and m["llm"]["extraction"]["request_errors"] == 1
    for path in output.iterdir():
        written = path.read_text(encoding="utf8")
        assert "losartana" not in written and "Nega febre" not in written, path.name


def test_usage_with_unknown_token_figures_is_averaged_over_the_known_ones():
    rows = [
        {"latency_s": 1.0, "prompt_tokens": 100, "completion_tokens": 10, "reasoning_tokens": 0, "total_tokens": 110,
         "cost_usd": 0.002, "attempts": 1},
        {"latency_s": 3.0, "prompt_tokens": None, "completion_tokens": 30, "reasoning_tokens": 0,
         "total_tokens": None, "cost_usd": None, "attempts": 1},
        {"latency_s": 9.0, "error": "timeout", "request_error": "timeout", "cost_usd": 0.0, "attempts": 2,
         "prompt_tokens": 0, "completion_tokens": 0, "reasoning_tokens": 0, "total_tokens": 0},
    ]
    summary = usage_summary(rows, priced=True)
    assert (summary["requests"], summary["responses"], summary["request_errors"]) == (3, 2, 1)
    assert summary["unknown_usage"] == 1 and summary["mean_time_s"] == 2.0
    assert (summary["mean_prompt_tokens"], summary["mean_completion_tokens"], summary["mean_total_tokens"]) == (
        100, 20, 110)
    assert (summary["total_prompt_tokens"], summary["total_tokens"]) == (100, 110)
    assert summary["cost_usd"] == pytest.approx(0.002) and summary["cost_per_1000_responses_usd"] == pytest.approx(2)


def test_a_priced_model_whose_replies_have_no_token_counts_has_an_unknown_cost_not_no_price():
    """The cost is unknown (None, with `unknown_cost` replies) for a model with prices whose provider gave no
    token counts; a model without prices has no cost at all; with prices and no reply, nothing was spent."""
    unknown = {"latency_s": 1.0, "prompt_tokens": None, "completion_tokens": None, "reasoning_tokens": None,
               "total_tokens": None, "cost_usd": None, "attempts": 1}
    summary = usage_summary([unknown, dict(unknown)], priced=True)
    assert (summary["cost_usd"], summary["cost_per_1000_responses_usd"], summary["unknown_cost"]) == (None, None, 2)
    unpriced = usage_summary([unknown], priced=False)
    assert (unpriced["cost_usd"], unpriced["unknown_cost"]) == (None, None)
    nothing = usage_summary([{}], priced=True)
    assert (nothing["cost_usd"], nothing["cost_usd_paid"], nothing["unknown_cost"]) == (0.0, 0.0, 0)
    from spacy_clinical_pt.llm.silver import _cost_text

    assert _cost_text(None, 2) == "cost unknown (the provider gave no token counts)"
    assert _cost_text(None, None) == "no price"
    assert _cost_text(0.5, 1) == "US$0.5000 at list prices (1 reply without token counts)"


def test_usage_means_are_over_the_successful_replies_only():
    """A failed request (its tokens and time included) and a doc never sent count in `requests` but not in any mean.
    Catches the mutation that averages time, tokens or cost over every attempt (1.5 s would be 5 s, 200 prompt
    tokens 266.7, US$2 per 1,000 replies 1.5)."""
    rows = [
        {"latency_s": 1.0, "prompt_tokens": 100, "completion_tokens": 10, "reasoning_tokens": 0, "total_tokens": 110,
         "cost_usd": 0.001, "attempts": 1},
        {"latency_s": 12.0, "error": "HTTP 500", "request_error": "HTTP 500", "prompt_tokens": 400,
         "completion_tokens": 0, "reasoning_tokens": 0, "total_tokens": 400, "cost_usd": 0.0005, "attempts": 3},
        {},
        {"latency_s": 2.0, "prompt_tokens": 300, "completion_tokens": 30, "reasoning_tokens": 6, "total_tokens": 330,
         "cost_usd": 0.003, "attempts": 1, "cached": True},
    ]
    summary = usage_summary(rows, priced=True)
    assert (summary["requests"], summary["responses"], summary["request_errors"], summary["attempts"]) == (3, 2, 1, 5)
    assert (summary["mean_time_s"], summary["total_time_s"]) == (1.5, 3.0)
    assert (summary["mean_prompt_tokens"], summary["mean_completion_tokens"], summary["mean_reasoning_tokens"],
            summary["mean_total_tokens"]) == (200, 20, 3, 220)
    assert (summary["total_prompt_tokens"], summary["total_tokens"]) == (400, 440)
    assert summary["cost_usd"] == pytest.approx(0.004) and summary["cost_per_1000_responses_usd"] == pytest.approx(2.0)
    assert summary["cost_usd_paid"] == pytest.approx(0.001) and summary["cached_responses"] == 1


@pytest.mark.parametrize("setting", ["cache_dir", "output"])
def test_an_unusable_cache_or_output_folder_stops_before_any_request(tmp_path, corpus, monkeypatch, setting):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    blocker = tmp_path / "runs"
    blocker.write_text("a file where a folder should be", encoding="utf8")
    output = blocker / "gpt5" if setting == "output" else tmp_path / "out" / "gpt5"
    extra = [] if setting == "output" else ["--set", f"components.llm.model.cache_dir={blocker / 'cache'}"]
    with FakeLLMServer(CannedLLM(REPLIES, TEST)) as server:
        result = run_baseline(server, corpus, output, *extra)
    assert result.exit_code == 1, result.output
    name = "cache_dir" if setting == "cache_dir" else "--output"
    assert f"error: {name} {blocker / ('cache' if setting == 'cache_dir' else 'gpt5')}: {blocker} is not a folder" \
        in result.output
    assert server.requests == [] and "Traceback" not in result.output


def test_llm_run_sits_beside_a_trained_pipeline_in_compare(tmp_path, corpus, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    runs = tmp_path / "runs"
    with FakeLLMServer(CannedLLM(REPLIES, TEST)) as server:
        assert run_baseline(server, corpus, runs / "gpt5").exit_code == 0
        assert run_baseline(server, corpus, runs / "gpt5-again", "--name", "gpt-5-rerun").exit_code == 0
    # A trained pipeline's run: a small clinical_tagger initialised on the training note, fixed threshold.
    nlp = spacy.blank("pt", config={"nlp": {"tokenizer": {"@tokenizers": "spacy_clinical_pt.ClinicalTokenizer.v1"}}})
    nlp.add_pipe("clinical_tagger", config={"model": SMALL_TAGGER_MODEL})
    train = load_docs(corpus["train"], nlp) + load_docs(corpus["test"], nlp)
    nlp.initialize(lambda: [Example(nlp.make_doc(doc.text), doc) for doc in train])
    nlp.to_disk(tmp_path / "tagger")
    evaluated = invoke(*[
        "evaluate", str(tmp_path / "tagger"), str(corpus["test"]), "--threshold-policy", "fixed",
        "--output", str(runs / "tagger"), "--name", "cnn", "--corpus", "toy"])
    assert evaluated.exit_code == 0, evaluated.output

    run = load_run(runs / "gpt5")
    assert run.model == "gpt-5-minimal" and run.scheme == "IO" and run.policy == "output"
    compared = invoke(*[
        "compare", str(runs / "gpt5"), str(runs / "gpt5-again"), str(runs / "tagger"), "--output",
        str(tmp_path / "compare")])
    assert compared.exit_code == 0, compared.output
    table = (tmp_path / "compare" / "table5.md").read_text(encoding="utf8")
    micro = json.loads((runs / "gpt5" / "metrics.json").read_text())["token"]["IO"]["micro"]["f1"]
    assert "| gpt-5-minimal | " in table and "| cnn | " in table
    assert f"{micro:.4f}" in table.split("| gpt-5-minimal |")[1].splitlines()[0]


def test_table4_across_runs_in_the_papers_layout():
    rows = [
        {"model": "gpt-5 (minimal)", "corpus": "semclinbr", "responses": 1000, "mean_time_s": 18.3,
         "mean_total_tokens": 3064.0, "cost_per_1000_responses_usd": 9.57, "price_date": "2025-11-14"},
        {"model": "qwen2.5:7b-instruct", "corpus": "semclinbr", "responses": 2, "mean_time_s": 4.04,
         "mean_total_tokens": 2500.5, "cost_per_1000_responses_usd": None, "price_date": None},
    ]
    lines = table4(rows).splitlines()
    assert lines[0] == "| Model (reasoning effort) | Mean time (s) | Mean tokens | Cost per 1,000 responses (USD) |"
    assert lines[2] == "| gpt-5 (minimal) | 18.3 | 3,064 | 9.57 |"
    assert lines[3] == "| qwen2.5:7b-instruct | 4.0 | 2,500 | n/a |"  # 2500.5 rounds half to even
    assert "1000 replies, list prices of 2025-11-14" in lines[5] and "2 replies, no price" in lines[5]


# --- silver annotation ---

SILVER_NOTES = [
    # Sentences: "Paciente refere dor no peito." (entities), "Nega febre." (11 characters: too short),
    # "Sem queixas hoje no momento." (the LLM finds nothing).
    ("a", "Paciente refere dor no peito. Nega febre. Sem queixas hoje no momento.", []),
    ("b", "Iniciado captopril e furosemida.", []),
    ("c", "Tomografia de crânio sem lesões.", []),  # the reply is malformed
]
SILVER_REPLIES = {
    "Paciente refere dor no peito.": ('[{"label": "Problema", "text": "dor no peito"}, '
                                      '{"label": "Anatomia", "text": "peito"}, {"label": "Sintoma", "text": "dor"}]'),
    "Sem queixas hoje no momento.": "[]",
    "Iniciado captopril e furosemida.": ('[{"label": "Tratamento", "text": "captopril"}, '
                                         '{"label": "Tratamento", "text": "furosemida"}, '
                                         '{"label": "Tratamento", "text": "dipirona"}]'),
    "Tomografia de crânio sem lesões.": 'Entidades: [{"label": "Teste", "text": "Tomografia de crânio"',
}


def silver_server(more_replies: dict[str, str] | None = None) -> FakeLLMServer:
    """Answers each unit with the reply of the first canned text the unit contains."""
    replies = {**(more_replies or {}), **SILVER_REPLIES}

    def reply(body: dict) -> Reply:
        message = user_message(body)
        text = next(t for t in replies if t in message)
        return Reply(content=replies[text], usage=usage(500, 30))
    return FakeLLMServer(reply)


def annotate_args(server, source, output, *extra):
    return [
        "annotate-silver", str(CONFIGS / "local.cfg"), str(source), "--output", str(output),
        "--set", f"components.llm.model.base_url={server.base_url}",
        "--set", f"components.llm.model.cache_dir={output.parent / 'cache'}", *extra,
    ]


def test_annotate_silver_filters_counts_and_writes_a_trainable_docbin(tmp_path, corpus):
    notes = tmp_path / "notes.jsonl"
    notes.write_text("\n".join(json.dumps({"id": i, "text": t}) for i, t, _ in SILVER_NOTES) + "\n", encoding="utf8")
    output, report = tmp_path / "silver" / "train.spacy", tmp_path / "silver" / "report.json"
    with silver_server() as server:
        result = invoke(*annotate_args(
            server, notes, output, "--unit", "sentence", "--examples", str(corpus["train"]), "--report", str(report)))
    assert result.exit_code == 3, result.output  # c's reply could not be read: a partial success
    assert len(server.requests) == 4  # the short sentence was never sent
    counts = json.loads(report.read_text(encoding="utf8"))
    assert (counts["notes"], counts["units"], counts["kept"]) == (3, 5, 2)
    assert counts["dropped"] == {"short": 1, "empty": 1, "failed": 1}
    assert counts["failed"] == [{"doc_id": "c#1", "reason": "unterminated JSON (the reply may have been cut off)"}]
    assert ("1 unit failed, no entities read (rerun to retry it): c#1: unterminated JSON (the reply may have been "
            "cut off)") in result.output
    assert counts["entities_per_label"] == {"Anatomia": 1, "Problema": 1, "Tratamento": 2}
    assert counts["extraction"]["hallucinations"] == 1 and counts["extraction"]["type_errors"] == 1
    assert counts["extraction"]["parse_errors"] == 1
    assert counts["usage"]["responses"] == 4 and counts["usage"]["total_tokens"] == 4 * 530
    assert counts["usage"]["cost_usd"] is None  # the local preset has no price
    assert "peito" not in report.read_text(encoding="utf8")

    docs = load_docs(output)
    assert [doc_id(doc) for doc in docs] == ["a#1", "b#1"]
    first = docs[0]
    assert first.text == "Paciente refere dor no peito."
    assert [(s.text, s.label_) for s in first.spans["sc"]] == [("dor no peito", "Problema"), ("peito", "Anatomia")]
    assert first.user_data["clinical_pt"]["source"] == {"doc_id": "a", "start": 0, "end": 29}
    assert first.user_data["clinical_pt"]["entities"] == {}
    # Trains like a converted corpus: a clinical_tagger initialises on it and one update gives a finite loss.
    nlp = spacy.blank("pt", config={"nlp": {"tokenizer": {"@tokenizers": "spacy_clinical_pt.ClinicalTokenizer.v1"}}})
    nlp.add_pipe("clinical_tagger", config={"model": SMALL_TAGGER_MODEL})
    examples = [Example(nlp.make_doc(doc.text), doc) for doc in docs]
    nlp.initialize(lambda: examples)
    assert set(nlp.get_pipe("clinical_tagger").labels) == {"Anatomia", "Problema", "Tratamento"}
    losses = nlp.update(examples)
    assert 0 < losses["clinical_tagger"] < float("inf")


def test_annotate_silver_keeps_empty_units_on_request_and_strips_gold_from_a_docbin(tmp_path):
    # Two whole notes from a gold DocBin: "a" (no gold) and n1 (2 gold spans, removed; the LLM finds nothing).
    source = docbin(tmp_path / "gold.spacy", [SILVER_NOTES[0], TEST[0]])
    output, report = tmp_path / "silver.spacy", tmp_path / "report.json"
    with silver_server({TEST[0][1]: "[]"}) as server:
        result = invoke(*annotate_args(
            server, source, output, "--keep-empty", "--report", str(report)))
    assert result.exit_code == 0, result.output
    counts = json.loads(report.read_text(encoding="utf8"))
    assert counts["gold_spans_removed"] == {"sc": 2}
    assert (counts["units"], counts["kept"], counts["dropped"]) == (2, 2, {"short": 0, "empty": 0, "failed": 0})
    docs = load_docs(output)
    assert [doc_id(doc) for doc in docs] == ["a", "n1"]
    assert len(docs[0].spans["sc"]) == 2 and len(docs[1].spans["sc"]) == 0


def test_a_failed_unit_is_not_a_unit_without_entities_and_a_rerun_retries_it(tmp_path):
    """Two units fail (a reply in another shape, a 500); the rerun asks for them only, and they now succeed."""
    notes = tmp_path / "notes.jsonl"
    texts = {"a": "Paciente refere dor no peito.", "b": "Iniciado captopril e furosemida.",
             "d": "Sem queixas hoje no momento."}
    notes.write_text("\n".join(json.dumps({"id": i, "text": t}) for i, t in texts.items()) + "\n", encoding="utf8")
    wrong_shape = '[{"entidade": "captopril", "tipo": "Tratamento"}]'
    first_run = {"b": Reply(content=wrong_shape), "d": Reply(status=500, content="overloaded")}

    def reply(body: dict) -> Reply:
        message = user_message(body)
        note = next(i for i, t in texts.items() if t in message)
        if note in first_run:
            return first_run[note]
        return Reply(content=SILVER_REPLIES.get(texts[note], "[]"), usage=usage(500, 30))

    output, report = tmp_path / "silver" / "train.spacy", tmp_path / "silver" / "report.json"
    args = ["--keep-empty", "--report", str(report), "--set", "components.llm.model.max_retries=0"]
    with FakeLLMServer(reply) as server:
        first = invoke(*annotate_args(server, notes, output, *args))
        counts = json.loads(report.read_text(encoding="utf8"))
        kept_first = [doc_id(doc) for doc in load_docs(output)]
        requests = len(server.requests)
        first_run.clear()
        again = invoke(*annotate_args(server, notes, output, *args))
    assert first.exit_code == 3, first.output
    assert counts["dropped"] == {"short": 0, "empty": 0, "failed": 2} and kept_first == ["a"]
    assert counts["failed"] == [
        {"doc_id": "b", "reason": 'none of the 1 items of the reply is a {"label", "text"} object'},
        {"doc_id": "d", "reason": "HTTP 500 Internal Server Error (fake_error): overloaded"},
    ]
    assert again.exit_code == 0, again.output
    assert len(server.requests) == requests + 2  # b and d; a came from the cache
    assert [doc_id(doc) for doc in load_docs(output)] == ["a", "b", "d"]


def test_a_unit_over_the_length_limit_is_recorded_and_the_others_are_written(tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "huge.txt").write_text("Dor no peito. " * 75_000, encoding="utf8")  # 1,050,000 characters
    (folder / "short.txt").write_text("Paciente refere dor no peito.", encoding="utf8")
    output, report = tmp_path / "silver.spacy", tmp_path / "report.json"
    with silver_server() as server:
        result = invoke(*annotate_args(server, folder, output, "--report", str(report)))
    assert result.exit_code == 3, result.output
    assert len(server.requests) == 1
    counts = json.loads(report.read_text(encoding="utf8"))
    assert counts["failed"] == [{"doc_id": "huge", "reason": "1,050,000 characters, over the pipeline's limit of "
                                                             "1,000,000 (nlp.max_length): try --unit sentence"}]
    assert [doc_id(doc) for doc in load_docs(output)] == ["short"]


@pytest.mark.parametrize("where", ["a folder", "under a file"])
def test_an_output_that_cannot_be_written_stops_before_any_request(tmp_path, where):
    notes = tmp_path / "notes.txt"
    notes.write_text("Paciente refere dor no peito.", encoding="utf8")
    output = tmp_path / "silver.spacy"
    if where == "a folder":
        output.mkdir()
    else:
        output.write_text("a file", encoding="utf8")
        output = output / "train.spacy"
    with silver_server() as server:
        result = invoke(*annotate_args(
            server, notes, output, "--set", f"components.llm.model.cache_dir={tmp_path / 'cache'}"))
    assert result.exit_code == 1, result.output
    reason = "is a folder, not a file" if where == "a folder" else f"{tmp_path / 'silver.spacy'} is not a folder"
    assert f"error: --output {output}: {reason}" in result.output
    assert server.requests == [] and "Traceback" not in result.output


def test_a_jsonl_line_without_text_is_an_error_naming_the_file_and_line(tmp_path):
    notes = tmp_path / "notes.jsonl"
    notes.write_text('{"id": "a", "text": "Paciente refere dor no peito."}\n{"id": "b", "texto": "sem campo"}\n',
                     encoding="utf8")
    with FakeLLMServer(Reply(content="[]")) as server:
        result = invoke(*annotate_args(server, notes, tmp_path / "out.spacy"))
    assert result.exit_code == 1
    assert f"{notes}:line 2: no 'text' key in this object" in result.output
    assert server.requests == [] and not (tmp_path / "out.spacy").exists()


# --- the ready configs ---


def test_llm_presets_writes_every_preset_and_the_committed_local_config_is_what_it_renders(presets):
    expected = config_files(presets)
    assert sorted(presets.glob("*.cfg")) == sorted(expected) and len(expected) == len(PRESETS) == 17
    for path, text in expected.items():
        assert path.read_text(encoding="utf8") == text, path.name
    committed = (CONFIGS / "local.cfg").read_text(encoding="utf8")
    assert committed == render_config(PRESETS["local"]), "local.cfg drifted: run spacy-clinical-pt llm-presets -o configs/llm"
    assert {"gpt-4.1", "gpt-5-minimal", "gpt-5-mini-low", "gpt-5-nano-high", "gemini-2.5-pro", "gemini-2.5-flash",
            "gemini-2.5-flash-lite", "local"} <= set(PRESETS)
    assert PRESETS["gpt-5-mini-low"].prices == {"date": "2025-11-14", "source": "https://openai.com/api/pricing/",
                                                "input": 0.25, "output": 2.0}
    assert PRESETS["gpt-4.1"].temperature == 0.1 and PRESETS["gpt-5-high"].temperature is None


def test_local_config_assembles_against_the_fake_server_and_annotates(tmp_path):
    with FakeLLMServer(Reply(content='[{"label": "Problema", "text": "febre"}]', usage=usage(10, 5))) as server:
        nlp = load_llm_pipeline(CONFIGS / "local.cfg", {
            "components.llm.model.base_url": server.base_url, "components.llm.model.cache_dir": str(tmp_path)})
        doc = nlp("Nega febre.")
    assert nlp.pipe_names == ["llm"] and [(s.text, s.label_) for s in doc.spans["sc"]] == [("febre", "Problema")]
    [request] = server.requests
    assert request.body["model"] == "qwen2.5:7b-instruct" and "authorization" not in request.headers


@pytest.mark.parametrize("name", sorted(name for name, preset in PRESETS.items() if preset.remote))
def test_remote_configs_refuse_without_opt_in_and_build_with_it(name, monkeypatch, presets):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("GEMINI_API_KEY", SECRET)
    with pytest.raises(ValueError, match="allow_remote"):
        load_llm_pipeline(presets / f"{name}.cfg")
    nlp = load_llm_pipeline(presets / f"{name}.cfg", allow_remote=True)  # built, never called
    model = nlp.get_pipe("llm")._model
    assert model.name == PRESETS[name].model and model.base_url == PRESETS[name].base_url
    assert model.requests_made == 0


def test_a_plain_spacy_llm_assemble_finds_the_task_and_model_by_entry_point(tmp_path):
    """In a fresh interpreter that never imports spacy_clinical_pt: only the installed entry points can help."""
    code = (
        "import sys; from spacy_llm.util import assemble; "
        "nlp = assemble(sys.argv[1], overrides={'components.llm.model.base_url': 'http://127.0.0.1:9/v1'}); "
        "print(nlp.pipe_names)"
    )
    result = subprocess.run([sys.executable, "-c", code, str(CONFIGS / "local.cfg")], capture_output=True,
                            text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-1500:]
    assert result.stdout.strip() == "['llm']"


def test_llm_baseline_stops_before_any_request_without_opt_in(tmp_path, corpus, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    result = invoke(
        "llm-baseline", str(corpus["config"]), str(corpus["test"]), "--output", str(tmp_path / "out"))
    assert result.exit_code == 1
    assert "notes would be sent to api.openai.com" in result.output and "--allow-remote" in result.output
    assert SECRET not in result.output and not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "content, problem",
    [
        ("Paciente de 67 anos refere dispneia aos pequenos esforcos ha tres semanas.\n", "cannot be parsed as a config (line 1)"),
        ("[nlp]\nlang = \"pt\"\npipeline = [\"llm\"]\n\n[components]\n\n[components.llm]\nfactory = \"llm\"\n"
         "\n[components.llm.task]\n@llm_tasks = \"spacy_clinical_pt.ClinicalNER.v1\"\nlabels = 5\n", "labels"),
    ],
    ids=["a note given as config", "a config with a bad value"],
)
def test_a_config_that_cannot_be_assembled_is_named_without_quoting_it(tmp_path, content, problem):
    config = tmp_path / "note.cfg"
    config.write_text(content, encoding="utf8")
    with pytest.raises(ValueError) as error:
        load_llm_pipeline(config)
    message = str(error.value)
    assert message.startswith(f"{config}: not a usable spacy-llm config (")
    assert problem in message and "\n" not in message
    assert "dispneia aos pequenos" not in message  # the file may be a note: none of it is quoted

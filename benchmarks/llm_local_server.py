"""The LLM baseline end to end WITHOUT a language model: canned replies from a fake local server, real everything else.

    python benchmarks/llm_local_server.py                  # NestedClinBr test split, results in metrics/llm/fake/

What is real: the HTTP client (`spacy_clinical_pt.OpenAICompatible.v1`, retries included), the task (the paper's
prompt, reply parsing, alignment, hallucination and type-error counts), `llm-baseline` (the same evaluation as a
trained pipeline, usage accounting, Table 4). What is NOT: the replies. `tests/helpers/llm_server.py`'s `FakeLLMServer`
answers each note with its own GOLD entities, corrupted on a fixed plan (seed 0), so every figure it prints
measures the pipeline's bookkeeping, never a model:

- about 20 % of the gold entities are dropped (each with probability 0.2) -> misses;
- every 3rd note gets one hallucinated text that is in no note of the corpus -> hallucinations;
- every 5th note gets one label outside the schema ("Medicamento") on a real text of the note -> type errors;
- every 4th reply is wrapped in ```json fences (read like any other);
- one reply (the 7th note) is cut off mid-JSON -> one parse error, that note gets no spans;
- the 2nd note is first answered 429 (Retry-After 0) -> one retry.

Usage is canned too: prompt tokens 2,400 + one per 4 characters of the note, completion tokens one per 3
characters of the reply, no reasoning tokens; it is priced at gpt-5 (minimal)'s list prices of the preset table
so that Table 4 shows every column. Writes `metrics/llm/fake/` (what `llm-baseline` writes, plus `plan.json`: the
corruption plan as counts). The corpus comes from `weasel run convert` and `weasel run split`.
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
from spacy.tokens import Doc

from spacy_clinical_pt.convert import load_docs
from spacy_clinical_pt.cli.llm_baseline import llm_baseline_command
from spacy_clinical_pt.llm.presets import PRESETS

REPO = Path(__file__).resolve().parents[1]
SPLIT = REPO / "corpus" / "nestedclinbr" / "iterative"
BANNER = "CANNED REPLIES, NOT A MODEL: the fake server answers with corrupted gold entities; no LLM was called."
SEED = 0
DROP_RATE = 0.2
HALLUCINATIONS = ("dor lombar irradiada para o calcanhar direito", "cintilografia de tireoide com gálio")
WRONG_LABEL = "Medicamento"
PRICED_AS = "gpt-5-minimal"
BASE_PROMPT_TOKENS = 2400


def load_fake_server() -> Any:
    """The `tests/helpers/llm_server.py` module (the fake server the tests use)."""
    sys.path.insert(0, str(REPO / "tests"))
    from helpers import llm_server

    return llm_server


def canned_replies(docs: list[Doc], rng: random.Random) -> tuple[list[str], dict[str, int]]:
    """One reply per note, built from its gold entities on the plan of the module docstring.

    RETURNS: (the reply texts in note order, the plan as counts).
    """
    corpus_text = "\n".join(doc.text for doc in docs)
    planted = [text for text in HALLUCINATIONS if text not in corpus_text]
    plan = {"notes": len(docs), "gold_entities": 0, "dropped": 0, "hallucinated": 0, "wrong_labels": 0,
            "fenced": 0, "malformed": 0, "rate_limited": 1}
    replies = []
    for number, doc in enumerate(docs, start=1):
        gold = sorted(doc.spans["sc"], key=lambda span: (span.start_char, -span.end_char, span.label_))
        plan["gold_entities"] += len(gold)
        kept = [span for span in gold if rng.random() >= DROP_RATE]
        plan["dropped"] += len(gold) - len(kept)
        items = [{"label": span.label_, "text": span.text} for span in kept]
        if number % 3 == 0 and planted:
            items.append({"label": "Problema", "text": planted[number % len(planted)]})
            plan["hallucinated"] += 1
        if number % 5 == 0 and gold:
            items.append({"label": WRONG_LABEL, "text": gold[0].text})
            plan["wrong_labels"] += 1
        reply = json.dumps(items, ensure_ascii=False)
        if number == 7:
            reply = reply[: len(reply) // 2]  # cut off mid-JSON
            plan["malformed"] += 1
        elif number % 4 == 0:
            reply = f"```json\n{reply}\n```"
            plan["fenced"] += 1
        replies.append(reply)
    return replies, plan


def main(
    test: Annotated[Path, typer.Option("--test", help="Gold test DocBin.")] = SPLIT / "test.spacy",
    examples: Annotated[Path, typer.Option("--examples", help="Training DocBin (few-shot example).")] = (
        SPLIT / "train.spacy"
    ),
    output: Annotated[Path, typer.Option("--output", help="Run folder.")] = REPO / "metrics" / "llm" / "fake",
) -> None:
    """Run `llm-baseline` with configs/llm/local.cfg against a fake server that answers corrupted gold entities."""
    for path in (test, examples):
        if not path.is_file():
            typer.echo(f"error: {path} not found: run `weasel run convert` and `weasel run split` first", err=True)
            raise typer.Exit(code=1)
    typer.echo(f"*** {BANNER} ***")
    server_module = load_fake_server()
    docs = load_docs(test)
    replies, plan = canned_replies(docs, random.Random(SEED))
    by_text = {doc.text: (index, reply) for index, (doc, reply) in enumerate(zip(docs, replies))}
    pending_429 = {1}  # the 2nd note

    def answer(body: dict) -> Any:
        message = server_module.user_message(body)
        # The user message is the template around the note: find the note it holds.
        index, reply = next(value for text, value in by_text.items() if text in message)
        if index in pending_429:
            pending_429.discard(index)
            return server_module.Reply(status=429, content="rate limited (canned)", headers={"Retry-After": "0"})
        tokens = server_module.usage(BASE_PROMPT_TOKENS + -(-len(docs[index].text) // 4), -(-len(reply) // 3))
        return server_module.Reply(content=reply, usage=tokens)

    prices = PRESETS[PRICED_AS].prices
    with tempfile.TemporaryDirectory(prefix="llm-fake-cache-") as cache, server_module.FakeLLMServer(answer) as server:
        overrides = [
            f"components.llm.model.base_url={server.base_url}",
            "components.llm.model.name=canned-replies",
            f"components.llm.model.cache_dir={cache}",  # a fresh cache: every reply is requested, the 429 seen
            "components.llm.model.backoff=0",
            "components.llm.model.prices=" + json.dumps(prices),
        ]
        try:
            llm_baseline_command(
                REPO / "configs" / "llm" / "local.cfg", test, output=output, examples=examples, allow_remote=False,
                name="canned-replies", corpus="nestedclinbr", limit=None, gold_key="sc", overrides=overrides,
            )
        except typer.Exit as stopped:
            if stopped.exit_code != 3:  # 3: some notes got no reply; they are named, the run folder is written
                raise
        requests = len(server.requests)
    metrics = json.loads((output / "metrics.json").read_text(encoding="utf8"))
    plan["requests_received"] = requests
    (output / "plan.json").write_text(json.dumps(plan, indent=2), encoding="utf8")
    extraction, usage = metrics["llm"]["extraction"], metrics["llm"]["usage"]
    token, strict = metrics["token"]["IO"], metrics["entity"]["strict"]
    typer.echo("")
    typer.echo(f"*** {BANNER} ***")
    typer.echo(
        f"plan: {plan['gold_entities']} gold entities in {plan['notes']} notes, {plan['dropped']} dropped, "
        f"{plan['hallucinated']} hallucinations, {plan['wrong_labels']} wrong labels, {plan['fenced']} fenced "
        f"replies, {plan['malformed']} malformed, 1 rate limit; the server received {requests} requests"
    )
    typer.echo(
        f"measured: hallucinations {extraction['hallucinations']}, type errors {extraction['type_errors']}, "
        f"parse errors {extraction['parse_errors']}, spans {extraction['spans']}, attempts {usage['attempts']}"
    )
    typer.echo("")
    typer.echo("| run | token IO macro F1 | token IO micro F1 | entity strict micro P | R | F1 |")
    typer.echo("|---|---|---|---|---|---|")
    typer.echo(
        f"| canned-replies | {token['macro']['f1']:.4f} | {token['micro']['f1']:.4f} | "
        f"{strict['micro']['precision']:.4f} | {strict['micro']['recall']:.4f} | {strict['micro']['f1']:.4f} |"
    )
    typer.echo("")
    typer.echo(f"Table 4 (canned usage priced at {PRICED_AS}'s list prices of {prices['date']}):")
    typer.echo((output / "table4.md").read_text(encoding="utf8"))
    typer.echo(f"*** {BANNER} ***")


if __name__ == "__main__":
    typer.run(main)

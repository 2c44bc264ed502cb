"""Write the generated blocks of project.yml from the tables they come from.

    python scripts/project_commands.py            # rewrite the generated blocks of project.yml
    python scripts/project_commands.py --check    # exit 1 when project.yml differs from what this writes

The benchmark is every encoder of `spacy_clinical_pt.encoders.ENCODERS` (but MiniLM) x IO/BIO on each corpus:
one weasel command per corpus and encoder (train and evaluate both schemes, so one failed encoder reruns alone),
the tables over all of them, and the `all` workflow that lists them. The `llm-configs` command lists the config
files that `llm-presets` writes (`spacy_clinical_pt.llm.presets`). Each block sits between a `# >>> generated:
NAME` and a `# <<< generated: NAME` line; everything outside the blocks is written by hand.
tests/project/test_project_commands.py fails when project.yml is not what this script writes.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Optional, Sequence

from spacy_clinical_pt.encoders import ENCODERS
from spacy_clinical_pt.llm.presets import config_files

PROJECT = Path(__file__).resolve().parents[1] / "project.yml"
BENCH_CORPORA = ("nestedclinbr", "er_ner", "clinpt")
BENCH_SCHEMES = ("IO", "BIO")
# MiniLM is English and not one of the paper's encoders: it is the offline test encoder.
BENCH_ENCODERS = tuple(key for key in ENCODERS if key != "minilm")
LLM_CONFIG_DIR = "configs/llm"
BEGIN = "# >>> generated: {name} (scripts/project_commands.py writes this block: edit the script and rerun it)"
END = "# <<< generated: {name}"


def bench_name(corpus: str, key: str) -> str:
    """The weasel command that trains and evaluates encoder `key` on `corpus`."""
    return f"bench-{corpus}-{key}"


def bench_runs() -> list[str]:
    """Every run's folder under metrics/bench and training/bench: `<corpus>/<encoder>_<scheme>`, in table order."""
    return [f"{corpus}/{key}_{scheme}"
            for corpus in BENCH_CORPORA for key in BENCH_ENCODERS for scheme in BENCH_SCHEMES]


def bench_command(corpus: str, key: str) -> dict[str, object]:
    """The command training encoder `key` on `corpus` in each scheme and evaluating it on the test split.

    corpus: a converted and split corpus (corpus/<corpus>/<split_method>/). key: a key of ENCODERS.
    RETURNS: the command as project.yml holds it (name, help, script, deps, outputs).
    """
    split = f"corpus/{corpus}/${{vars.split_method}}"
    hf_name = ENCODERS[key].hf_name
    # The CNN trains with spaCy's own tok2vec (configs/cnn.cfg) on the CPU; every transformer shares one config.
    config = "configs/cnn.cfg" if hf_name is None else "configs/transformer.cfg"
    encoder = "" if hf_name is None else f" --encoder.name {hf_name}"
    device = "" if hf_name is None else " --gpu-id ${vars.gpu_id}"
    script, outputs = [], []
    for scheme in BENCH_SCHEMES:
        run = f"{corpus}/{key}_{scheme}"
        script += [
            f"python -m spacy train {config} --output training/bench/{run} --paths.train {split}/train.spacy"
            f" --paths.dev {split}/dev.spacy{encoder} --components.clinical_tagger.scheme {scheme}"
            " --components.clinical_tagger.class_weighting ${vars.class_weighting}"
            " --corpora.train.@readers ${vars.train_reader} --system.seed ${vars.seed}" + device,
            f"python -m spacy_clinical_pt evaluate training/bench/{run}/model-best {split}/test.spacy"
            f" --dev {split}/dev.spacy --output metrics/bench/{run} --name {key} --corpus {corpus}"
            " --seed ${vars.seed}",
        ]
        outputs += [f"training/bench/{run}/model-best", f"metrics/bench/{run}/metrics.json"]
    return {
        "name": bench_name(corpus, key),
        "help": f"{key} ({hf_name or 'spaCy CNN'}) on {corpus}, IO and BIO: train, then evaluate on test",
        "script": script,
        "deps": [f"{split}/train.spacy", f"{split}/dev.spacy", f"{split}/test.spacy", config],
        "outputs": outputs,
    }


def tables_command() -> dict[str, object]:
    """The command tabulating every run of the benchmark (aggregate) and comparing them (compare)."""
    runs = " ".join(f"metrics/bench/{run}" for run in bench_runs())
    return {
        "name": "bench-tables",
        "help": "The paper-style tables of the benchmark: mean ± sd per model (aggregate) and Table 5 with "
        "Friedman/Wilcoxon tests and PR curves (compare)",
        "script": [f"python -m spacy_clinical_pt {command} {runs} --output metrics/tables/bench"
                   for command in ("aggregate", "compare")],
        "deps": [f"metrics/bench/{run}/metrics.json" for run in bench_runs()],
        "outputs": ["metrics/tables/bench/aggregate.md", "metrics/tables/bench/table5.md"],
    }


def llm_configs_command() -> dict[str, object]:
    """The command writing the LLM presets' configs into configs/llm (cheap: it reruns every time)."""
    return {
        "name": "llm-configs",
        "help": "Write the spacy-llm config of every LLM preset (spacy_clinical_pt.llm.presets) into configs/llm",
        "script": [f"python -m spacy_clinical_pt llm-presets --output {LLM_CONFIG_DIR}"],
        "outputs": [path.as_posix() for path in config_files(LLM_CONFIG_DIR)],
        "no_skip": True,
    }


def command_lines(command: dict[str, object]) -> list[str]:
    """`command` as YAML lines in project.yml's style (an item of `commands:`, every string double-quoted)."""
    lines = [f"  - name: {_quoted(command['name'])}", f"    help: {_quoted(command['help'])}"]
    for key in ("script", "deps", "outputs"):
        if command.get(key):
            lines += [f"    {key}:", *(f"      - {_quoted(item)}" for item in command[key])]
    if command.get("no_skip"):
        lines.append("    no_skip: true")
    return lines


def _quoted(value: object) -> str:
    # A JSON string is a YAML double-quoted scalar.
    return json.dumps(value, ensure_ascii=False)


def blocks() -> dict[str, list[str]]:
    """Each generated block's name and its lines (without the marker lines)."""
    bench: list[str] = []
    for command in [*(bench_command(c, k) for c in BENCH_CORPORA for k in BENCH_ENCODERS), tables_command()]:
        bench += [*command_lines(command), ""]
    workflow = [f"    - {_quoted(bench_name(c, k))}" for c in BENCH_CORPORA for k in BENCH_ENCODERS]
    return {"bench": bench[:-1], "llm-configs": command_lines(llm_configs_command()), "all-bench": workflow}


def render(text: str) -> str:
    """`text` (a project.yml) with each generated block replaced by what this script writes.

    Raises ValueError when a block's marker lines are missing.
    """
    for name, lines in blocks().items():
        pattern = re.compile(
            rf"^([ ]*){re.escape(BEGIN.format(name=name))}\n.*?^[ ]*{re.escape(END.format(name=name))}\n",
            re.MULTILINE | re.DOTALL,
        )
        match = pattern.search(text)
        if match is None:
            raise ValueError(f"project.yml has no block {name!r}: it needs the lines {BEGIN.format(name=name)!r} "
                             f"and {END.format(name=name)!r}")
        indent = match.group(1)
        block = "\n".join([indent + BEGIN.format(name=name), *lines, indent + END.format(name=name)]) + "\n"
        text = text[: match.start()] + block + text[match.end():]
    return text


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Rewrite (or with --check, compare) the generated blocks of a project.yml. RETURNS: the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("project", nargs="?", type=Path, default=PROJECT, help="the project.yml (default: the repo's)")
    parser.add_argument("--check", action="store_true", help="only compare: exit 1 when the file differs")
    args = parser.parse_args(argv)
    text = args.project.read_text(encoding="utf8")
    try:
        expected = render(text)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if expected == text:
        return 0
    if args.check:
        print(f"error: {args.project} differs from what scripts/project_commands.py writes: run it", file=sys.stderr)
        return 1
    args.project.write_text(expected, encoding="utf8")
    print(f"wrote the generated blocks of {args.project}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

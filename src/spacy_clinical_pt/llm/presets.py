"""The LLMs of the benchmark, their endpoints and dated prices, and the ready spacy-llm configs built from them.

    spacy-clinical-pt llm-presets -o configs/llm     # writes one .cfg per preset

This table is the single source of the configs in `configs/llm/`: they are generated, not committed, except
`local.cfg` (kept for a first run without a generation step; a test checks it does not drift from the table):
the paper's models (gpt-4.1; gpt-5, gpt-5-mini and gpt-5-nano at each reasoning effort; gemini-2.5-pro, -flash
and -flash-lite through Google's OpenAI-compatible endpoint) and `local`, an OpenAI-compatible server on this
machine (Ollama by default; vLLM and llama.cpp serve the same API).

Prices are the providers' LIST prices in USD per 1M tokens on `PRICE_DATE` (the paper's pricing date), from the
pages in `PRICE_SOURCES`. They change: check them before you report a cost. Batch, cached-input and priority
prices are not modelled.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

PRICE_DATE = "2025-11-14"
PRICE_SOURCES = {
    "openai": "https://openai.com/api/pricing/",
    "google": "https://ai.google.dev/gemini-api/docs/pricing",
}
PROVIDER_NAMES = {"openai": "OpenAI", "google": "Google", "local": "a local server"}
OPENAI_URL = "https://api.openai.com/v1"
GEMINI_URL = "https://generativelanguage.googleapis.com/v1beta/openai"
OLLAMA_URL = "http://localhost:11434/v1"
LOCAL_MODEL = "qwen2.5:7b-instruct"
CACHE_DIR = ".cache/llm"
GPT5_EFFORTS = ("minimal", "low", "medium", "high")
EFFORT_TIMEOUTS = {"minimal": 120.0, "low": 120.0, "medium": 300.0, "high": 600.0}

# The entity types of each corpus (NestedClinBr's are the configs' default).
NESTEDCLINBR_LABELS = ("Anatomia", "Problema", "Teste", "Tratamento")
ER_NER_LABELS = ("Alergias medicamentosas", "Diagnóstico", "Medicação Habitual")


@dataclass(frozen=True)
class Preset:
    """One model at one setting: what a config file needs to reach it and to price its replies.

    name: the preset and config file name ("gpt-5-minimal"). model: the provider's model id ("gpt-5").
    provider: "openai", "google" or "local" (the price source and the comments of the config).
    base_url: the OpenAI-compatible API root. api_key_env: the environment variable holding the key (None: none).
    temperature: sampling temperature, None where the model rejects one (GPT-5 models).
    reasoning_effort: "minimal" ... "high" for reasoning models, else None.
    price_input, price_output: USD per 1M prompt / completion tokens on PRICE_DATE, None when not priced.
    price_note: a condition on the price (e.g. gemini-2.5-pro's prompt-length tier).
    timeout: seconds to wait for one reply (higher reasoning efforts think for minutes on a long note).
    """

    name: str
    model: str
    provider: str
    base_url: str
    api_key_env: Optional[str]
    temperature: Optional[float]
    reasoning_effort: Optional[str] = None
    price_input: Optional[float] = None
    price_output: Optional[float] = None
    price_note: str = ""
    timeout: float = 120.0

    @property
    def remote(self) -> bool:
        """True when the preset sends notes off this machine (every provider but `local`)."""
        return self.provider != "local"

    @property
    def prices(self) -> Optional[dict[str, object]]:
        """The client's `prices` block: {"date", "source", "input", "output"} (USD per 1M tokens), or None."""
        if self.price_input is None or self.price_output is None:
            return None
        return {
            "date": PRICE_DATE,
            "source": PRICE_SOURCES[self.provider],
            "input": self.price_input,
            "output": self.price_output,
        }


def _presets() -> dict[str, Preset]:
    presets = [
        Preset("gpt-4.1", "gpt-4.1", "openai", OPENAI_URL, "OPENAI_API_KEY", 0.1, None, 2.00, 8.00),
    ]
    # GPT-5 models take a reasoning effort and reject a temperature.
    for model, price_input, price_output in (("gpt-5", 1.25, 10.00), ("gpt-5-mini", 0.25, 2.00),
                                             ("gpt-5-nano", 0.05, 0.40)):
        presets += [
            Preset(f"{model}-{effort}", model, "openai", OPENAI_URL, "OPENAI_API_KEY", None, effort, price_input,
                   price_output, timeout=EFFORT_TIMEOUTS[effort])
            for effort in GPT5_EFFORTS
        ]
    presets += [
        Preset("gemini-2.5-pro", "gemini-2.5-pro", "google", GEMINI_URL, "GEMINI_API_KEY", 0.1, None, 1.25, 10.00,
               "prompts of at most 200k tokens (longer prompts cost more)"),
        Preset("gemini-2.5-flash", "gemini-2.5-flash", "google", GEMINI_URL, "GEMINI_API_KEY", 0.1, None, 0.30, 2.50),
        Preset("gemini-2.5-flash-lite", "gemini-2.5-flash-lite", "google", GEMINI_URL, "GEMINI_API_KEY", 0.1, None,
               0.10, 0.40),
        Preset("local", LOCAL_MODEL, "local", OLLAMA_URL, None, 0.1),
    ]
    return {preset.name: preset for preset in presets}


PRESETS: dict[str, Preset] = _presets()


def _value(value: object) -> str:
    """A Python value as a config value (confection reads JSON-like literals)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return repr(value)


def _header(preset: Preset) -> list[str]:
    setting = f" at reasoning effort {preset.reasoning_effort}" if preset.reasoning_effort else ""
    lines = [
        f"# spacy-llm pipeline: {preset.model}{setting}, the benchmark's few-shot clinical NER prompt.",
        "# Generated by `spacy-clinical-pt llm-presets -o configs/llm` from spacy_clinical_pt/llm/presets.py:",
        "# edit the table there and regenerate, not this file.",
        "#",
        f"#   spacy-clinical-pt llm-baseline configs/llm/{preset.name}.cfg "
        "corpus/nestedclinbr/iterative/test.spacy \\",
        "#       --examples corpus/nestedclinbr/iterative/train.spacy --output metrics/llm/" + preset.name
        + (" --allow-remote" if preset.remote else ""),
        "#",
        "# The few-shot example is one note of --examples (paths.examples) with its ideal JSON response.",
        "# Labels: NestedClinBr's below; for ER_NER pass",
        "#   --set components.llm.task.labels='" + _value(list(ER_NER_LABELS)) + "'",
    ]
    if preset.remote:
        host = preset.base_url.split("/")[2]
        lines += [
            "#",
            f"# PRIVACY: this model sends every note to {host}. The client refuses to start while allow_remote",
            "# is false; opt in per run with `--allow-remote` (or set allow_remote = true here) only for text you",
            "# may send to that provider. The key is read from the environment variable "
            f"{preset.api_key_env}, never from a file.",
            "#",
            f"# Prices: {PROVIDER_NAMES[preset.provider]}'s list prices in USD per 1M tokens on {PRICE_DATE}"
            + (f", {preset.price_note}" if preset.price_note else "")
            + ";",
            "# they change: check " + PRICE_SOURCES[preset.provider] + " before reporting a cost.",
        ]
    else:
        lines += [
            "#",
            "# A server on this machine (no key, no price): Ollama by default (`ollama pull "
            + LOCAL_MODEL + "`);",
            "# vLLM (http://localhost:8000/v1) and llama.cpp (http://localhost:8080/v1) serve the same API:",
            "#   --set components.llm.model.base_url=http://localhost:8000/v1 --set components.llm.model.name=MODEL",
        ]
    return lines


def render_config(preset: Preset, labels: Sequence[str] = NESTEDCLINBR_LABELS) -> str:
    """The full spacy-llm config of `preset` (what `configs/llm/<name>.cfg` holds).

    labels: the entity types the prompt asks for.
    """
    model = [
        "[components.llm.model]",
        '@llm_models = "spacy_clinical_pt.OpenAICompatible.v1"',
        f"name = {_value(preset.model)}",
        f"base_url = {_value(preset.base_url)}",
        f"api_key_env = {_value(preset.api_key_env)}",
    ]
    if preset.temperature is None:
        model.append("# GPT-5 models reject a temperature: none is sent.")
    model += [
        f"temperature = {_value(preset.temperature)}",
        f"reasoning_effort = {_value(preset.reasoning_effort)}",
        f"timeout = {_value(preset.timeout)}",
        "max_retries = 5",
        "max_concurrency = 4",
    ]
    if preset.remote:
        model.append("# Sending notes off this machine needs an explicit opt-in: see the header.")
    model += [
        "allow_remote = false",
        "# The environment's proxy variables (HTTP_PROXY, HTTPS_PROXY...) are ignored: requests go to base_url only.",
        '# To go through a proxy, name it ("http://proxy.example:3128"); it is checked like base_url.',
        "proxy = null",
        "# Replies are cached on disk by request (model, parameters, prompt): a rerun makes no request.",
        f"cache_dir = {_value(CACHE_DIR)}",
    ]
    prices = preset.prices
    if prices is None:
        model.append("prices = null")
    else:
        model += [
            "",
            "[components.llm.model.prices]",
            f"date = {_value(prices['date'])}",
            f"source = {_value(prices['source'])}",
            f"input = {_value(prices['input'])}",
            f"output = {_value(prices['output'])}",
        ]
    lines = _header(preset) + [
        "",
        "[paths]",
        "examples = null",
        "",
        "[nlp]",
        'lang = "pt"',
        'pipeline = ["llm"]',
        "batch_size = 16",
        "",
        "[nlp.tokenizer]",
        '@tokenizers = "spacy_clinical_pt.ClinicalTokenizer.v1"',
        "",
        "[components]",
        "",
        "[components.llm]",
        'factory = "llm"',
        "# Prompts and replies are clinical text: never stored on the docs.",
        "save_io = false",
        "",
        "[components.llm.task]",
        '@llm_tasks = "spacy_clinical_pt.ClinicalNER.v1"',
        f"labels = {_value(list(labels))}",
        "example_path = ${paths.examples}",
        "",
        *model,
        "",
        "# spacy-llm's own doc cache is off (path = null): the model client caches replies itself.",
        "[components.llm.cache]",
        '@llm_misc = "spacy.BatchCache.v1"',
        "path = null",
        "batch_size = 64",
        "max_batches_in_mem = 4",
        "",
    ]
    return "\n".join(lines)


def config_files(directory: str | Path) -> dict[Path, str]:
    """Every preset's config path under `directory` and the text it should hold."""
    directory = Path(directory)
    return {directory / f"{name}.cfg": render_config(preset) for name, preset in PRESETS.items()}


def write_configs(directory: str | Path) -> list[Path]:
    """Write one `<preset>.cfg` per preset into `directory` (created). RETURNS: the paths written."""
    files = config_files(directory)
    Path(directory).mkdir(parents=True, exist_ok=True)
    for path, text in files.items():
        path.write_text(text, encoding="utf8")
    return list(files)

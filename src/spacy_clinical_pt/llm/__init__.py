"""LLM baselines and silver annotation with spacy-llm.

`task.py` (the `spacy_clinical_pt.ClinicalNER.v1` task: prompt, parsing, alignment) with `examples.py` (its few-shot
example), `client.py` (the `spacy_clinical_pt.OpenAICompatible.v1` model: HTTP, retries, privacy guard, cost) with
`transport.py` (endpoint check, deadline sockets), `cache.py` (reply cache) and `privacy.py` (what errors and logs
may say), `usage.py` (what replies cost, and their means), `presets.py` (the benchmark's models and their configs),
`baseline.py` (`llm-baseline`: an LLM evaluated like a trained pipeline), `table4.py` (the paper's Table 4),
`silver.py` (`annotate-silver`: silver corpora). The commands are in `spacy_clinical_pt.cli`.
"""

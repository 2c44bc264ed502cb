"""LLM baselines and silver annotation with spacy-llm.

`task.py` (the `spacy_clinical_pt.ClinicalNER.v1` task: prompt, parsing, alignment), `client.py` (the
`spacy_clinical_pt.OpenAICompatible.v1` model: HTTP, retries, privacy guard, cache, cost), `usage.py` (what one
reply cost), `baseline.py` (the `llm-baseline` and `annotate-silver` commands and the Table 4 layout).
"""

"""The `llm-presets` command (to be written: wraps `spacy_clinical_pt.llm.presets`)."""

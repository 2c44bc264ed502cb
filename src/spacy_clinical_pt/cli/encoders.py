"""The `encoders` command (to be written: wraps `spacy_clinical_pt.encoders`)."""

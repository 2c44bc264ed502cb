"""Annotating new notes with a trained pipeline: text in, entities out as JSONL, BRAT or displaCy HTML.

    spacy-clinical-pt annotate pt_clinical_cnn notes/ --output annotated/ --format brat

`notes.py` reads the notes, `run.py` runs the pipeline over them, `write.py` writes what it found; the
`annotate` command is `spacy_clinical_pt.cli.annotate`.

What can be read (`notes.read_notes`):
- a text file: one note (UTF-8, else cp1252/latin-1, as `convert` reads text; line ends kept as they are);
- a folder: every `.txt` under it, one note each, named by its path relative to the folder (the other files are
  counted in the summary, not read);
- a `.jsonl` file (or `--input-format jsonl`): one JSON object per line with a `text` string and an optional `id`;
- a `.json` file: a list of such objects (the layout `export --format jsonspans` writes);
- `-`: standard input, one note (or JSONL with `--input-format jsonl`).

Nothing is dropped silently. A file that cannot be read or is not text (an image saved as `.txt`), a JSONL line or
record that is not an object with a `text` string, a text that cannot be written as UTF-8, and a note the pipeline
fails on are each listed (file, line or record, and why, never the text) and skipped; the other notes are
annotated and written.

A note longer than `MAX_PIECE_CHARS` (or the pipeline's `nlp.max_length`) is cut at paragraph, line, sentence or
word boundaries (`run.split_text`); the pieces are annotated and joined into one doc with the note's exact text
(`run.join_pieces`), so the offsets are those of the whole note.

What is written (the writers of `spacy_clinical_pt.export`, so offsets are exactly those of `convert`/`export`):
- `jsonl`: one line per note, `{"doc_id", "text", "annotations": [{"start", "end", "label", "score"}]}`, character
  offsets into `text`, `score` the span's confidence (`doc.spans[key].attrs["scores"]`);
- `brat`: a folder with a copy of each note as `<id>.txt` and its entities in `<id>.ann` (re-importing it with
  `convert --format brat` gives back the same spans);
- `html`: one page with displaCy's span visualiser (overlapping entities drawn one above the other).
An existing output file, or a BRAT folder that already holds files, is only written with `--overwrite`.

Exit status: 0 when every input was annotated; 3 when some inputs were skipped and the rest annotated and written;
1 when nothing was written (output or options refused, pipeline not loaded, input missing, no note annotated).
"""

from .notes import STDIN, AnnotationReport, Note, read_notes
from .run import MAX_PIECE_CHARS, annotate_notes, join_pieces, split_text
from .write import brat_notes, check_output, entity_lines, render_html, write_annotations

__all__ = [
    "STDIN", "MAX_PIECE_CHARS", "AnnotationReport", "Note", "read_notes", "annotate_notes", "split_text",
    "join_pieces", "brat_notes", "check_output", "entity_lines", "render_html", "write_annotations",
]

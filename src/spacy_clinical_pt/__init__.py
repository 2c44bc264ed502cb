"""spacy-clinical-pt: spaCy-native clinical named entity recognition for Portuguese."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("spacy-clinical-pt")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

"""provenance: find a platform's posts inside AI training corpora, with verified evidence."""

__version__ = "0.1.0"

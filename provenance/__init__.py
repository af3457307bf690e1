"""provenance: find a platform's posts inside AI training corpora, with verified evidence.

The importable API (the CLI is a thin layer over it)::

    import provenance
    index = provenance.build_index(["posts.csv"], "idx", id_field="tweet_id")
    result = provenance.scan(index, ["corpus/"], "out")
"""

__version__ = "0.1.0"

from .api import ScanResult, build_index, open_index, scan, scan_texts  # noqa: E402
from .errors import IndexFormatError, InputError, ParameterError, ProvenanceError, SecretKeyError  # noqa: E402
from .keys import Key  # noqa: E402
from .params import IndexParams, ScanParams  # noqa: E402

__all__ = [
    "__version__", "build_index", "open_index", "scan", "scan_texts", "ScanResult", "IndexParams", "ScanParams",
    "ProvenanceError", "InputError", "IndexFormatError", "ParameterError", "SecretKeyError", "Key",
]

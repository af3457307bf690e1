"""provenance: find a platform's posts inside AI training corpora, with verified evidence.

The importable API (the CLI is a thin layer over it)::

    import provenance
    index = provenance.build_index(["posts.csv"], "idx", id_field="tweet_id")
    result = provenance.scan(index, ["corpus/"], "out")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .version import __version__  # noqa: E402
from .errors import IndexFormatError, InputError, ParameterError, ProvenanceError, SecretKeyError  # noqa: E402
from .keys import Key  # noqa: E402
from .params import IndexParams, ScanParams  # noqa: E402

if TYPE_CHECKING:
    from .api import Evaluation, ScanResult, build_index, evaluate, open_index, scan, scan_texts

__all__ = [
    "__version__", "build_index", "open_index", "scan", "scan_texts", "ScanResult", "evaluate", "Evaluation",
    "IndexParams", "ScanParams",
    "ProvenanceError", "InputError", "IndexFormatError", "ParameterError", "SecretKeyError", "Key",
]

_FROM_API = frozenset(("ScanResult", "build_index", "open_index", "scan", "scan_texts", "evaluate", "Evaluation"))


def __getattr__(name: str) -> Any:
    """The API functions, imported on first use (with numpy and polars), so that the CLI's ``--help``
    and the light modules (errors, params, keys) do not pay for them."""
    if name in _FROM_API:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _FROM_API)

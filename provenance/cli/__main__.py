"""``python -m provenance.cli``: the same as the ``provenance`` command."""

from . import main

main()

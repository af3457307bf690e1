"""The post index: a directory of inspectable files (:mod:`.format`), built in bounded memory
(:mod:`.build`, :mod:`.write`), opened with every check (:mod:`.load`) as an :class:`Index`
(:mod:`.store`), searched through sorted tables (:mod:`.lookup`)."""

from .spill import default_memory_limit
from .format import FORMAT, FORMAT_VERSION, MANIFEST, SKETCH_ARRAYS, SHORT, arrays_of, is_index
from .load import open_index
from .lookup import KeyFilter, find_in, lookup
from .shards import ShardedIndex, ShardRef, shards_of
from .store import Index, check_key
from .write import build_index, compact_index

__all__ = ["FORMAT", "FORMAT_VERSION", "MANIFEST", "SHORT", "SKETCH_ARRAYS", "Index", "KeyFilter", "arrays_of",
           "ShardRef", "ShardedIndex", "build_index", "check_key", "compact_index", "default_memory_limit", "find_in", "is_index", "lookup", "open_index", "shards_of"]

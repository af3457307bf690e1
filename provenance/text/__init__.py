"""Text stages of the data path, in the order a text goes through them.

* :mod:`.normalize`: the normalization, defined once, text by text (the reference);
* :mod:`.nospace`: step 4 of the normalization, scripts written without spaces as character bigrams;
* :mod:`.offsets`: the same with a map back to the original characters, for one text and for a batch;
* :mod:`.vectorized`: normalization and tokens of a whole batch as one UTF-8 buffer with numpy, equal
  to the reference's tokens (the scan's and the build's path);
* :mod:`.hashing`: the definitions of token, shingle and sequence hashes (plain and keyed);
* :mod:`.shingles`: tokens of a batch → shingle hashes, through a vocabulary cache.
"""

"""Text stages of the data path: normalization and tokens of whole batches of texts.

:mod:`provenance.text.vectorized` normalizes and tokenizes a batch as one UTF-8 buffer with numpy,
giving exactly the tokens of the per-document reference normalizer (:mod:`provenance.normalize`).
"""

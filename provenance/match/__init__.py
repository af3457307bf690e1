"""Matching a batch's documents against the index's posts: token alignment of candidate pairs
(:mod:`provenance.match.align`)."""

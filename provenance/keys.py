"""Secret keys for keyed indexes (``index build --key-file KEY``).

A key is raw bytes (at least :data:`MIN_KEY_BYTES`), read from a file as they are. Two values are
derived from it with HMAC-SHA256, each under its own label, so that neither reveals the other:

* the *token subkey*, ``HMAC-SHA256(key, "provenance/token-hash/v1")`` (32 bytes): the key of the
  keyed BLAKE2b that hashes every token (:class:`provenance.text.shingles.TokenHasher`);
* the *shingle subkey*, ``HMAC-SHA256(key, "provenance/shingle-hash/v1")``, first 16 bytes: the key
  of the SipHash-2-4 that finishes every shingle hash and exact key (:func:`provenance.text.hashing.siphash24`);
* the *fingerprint*, ``HMAC-SHA256(key, "provenance/key-fingerprint/v1")``, first 16 bytes in hex:
  stored in the index manifest, so that a scan can tell the right key from a wrong one;
* the *seal subkey*, ``HMAC-SHA256(key, "provenance/run-seal/v1")``: the key of the HMAC-SHA256 that
  seals a scan's ``evidence.json`` (:func:`seal_mac`; ``scan --key-file`` or ``--seal-key-file``), which
  only a holder of the key can make or check.

Neither the key nor a subkey is ever written to disk. A :class:`Key` shows only its fingerprint
when printed.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Any

from .errors import SecretKeyError

__all__ = ["Key", "MIN_KEY_BYTES", "SEAL_SCHEME", "SHINGLE_HASH", "TOKEN_HASH", "as_key", "fingerprint", "seal_mac",
           "shingle_subkey", "token_subkey"]

MIN_KEY_BYTES = 16
TOKEN_LABEL = b"provenance/token-hash/v1"
SHINGLE_LABEL = b"provenance/shingle-hash/v1"
ALIGN_LABEL = b"provenance/align-code/v1"
FINGERPRINT_LABEL = b"provenance/key-fingerprint/v1"
SEAL_LABEL = b"provenance/run-seal/v1"
SEAL_SCHEME = "hmac-sha256 keyed with hmac-sha256(key, 'provenance/run-seal/v1'), of the canonical JSON of the rest"
TOKEN_HASH = "blake2b-64, keyed with hmac-sha256(key, 'provenance/token-hash/v1')"
SHINGLE_HASH = "siphash-2-4 of the fold, keyed with hmac-sha256(key, 'provenance/shingle-hash/v1'), first 16 bytes"
FINGERPRINT_SCHEME = "hmac-sha256(key, 'provenance/key-fingerprint/v1'), first 16 bytes"


def token_subkey(key: bytes) -> bytes:
    """The 32-byte key of the keyed BLAKE2b token hash."""
    return hmac.new(key, TOKEN_LABEL, hashlib.sha256).digest()


def shingle_subkey(key: bytes) -> bytes:
    """The 16-byte key of the SipHash-2-4 that finishes shingle hashes and exact keys."""
    return hmac.new(key, SHINGLE_LABEL, hashlib.sha256).digest()[:16]


def align_subkey(key: bytes) -> bytes:
    """The 16-byte key of the SipHash-2-4 that makes a keyed index's token codes for alignment."""
    return hmac.new(key, ALIGN_LABEL, hashlib.sha256).digest()[:16]


def fingerprint(key: bytes) -> str:
    """The key's fingerprint as stored in a manifest: 32 hex digits."""
    return hmac.new(key, FINGERPRINT_LABEL, hashlib.sha256).digest()[:16].hex()


def seal_mac(key: bytes, data: bytes) -> str:
    """The keyed seal of ``data`` (hex): HMAC-SHA256 under the key's seal subkey."""
    return hmac.new(hmac.new(key, SEAL_LABEL, hashlib.sha256).digest(), data, hashlib.sha256).hexdigest()


def short(fp: str) -> str:
    """A fingerprint abridged for messages."""
    return fp[:8] + "…"


class Key:
    """A secret key and where it came from (``source``, for messages). Prints as its fingerprint only."""

    __slots__ = ("_bytes", "source", "fingerprint")

    def __init__(self, data: bytes, source: str | None = None) -> None:
        name = source or "the key given"
        if not isinstance(data, (bytes, bytearray)):
            raise SecretKeyError(f"{name}: a key must be bytes, got {type(data).__name__}")
        if len(data) < MIN_KEY_BYTES:
            raise SecretKeyError(f"{name}: a key must be at least {MIN_KEY_BYTES} bytes; "
                            f"make one with: head -c 32 /dev/urandom > {source or 'KEY'}")
        self._bytes = bytes(data)
        self.source = name
        self.fingerprint = fingerprint(self._bytes)

    @classmethod
    def from_file(cls, path: str | Path) -> "Key":
        """Read a key file's bytes, as they are (no newline stripped)."""
        try:
            data = Path(path).read_bytes()
        except FileNotFoundError:
            raise SecretKeyError(f"{path}: no such key file") from None
        except OSError as e:
            raise SecretKeyError(f"{path}: cannot read the key file ({e.strerror or type(e).__name__})") from None
        return cls(data, str(path))

    @property
    def secret(self) -> bytes:
        return self._bytes

    def __repr__(self) -> str:
        return f"Key(fingerprint={short(self.fingerprint)!r}, source={self.source!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Key) and hmac.compare_digest(self._bytes, other._bytes)

    def __hash__(self) -> int:
        return hash(self.fingerprint)

    def __getstate__(self) -> dict[str, Any]:  # to local and Dask workers, in memory
        return {"data": self._bytes, "source": self.source}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._bytes = state["data"]
        self.source = state["source"]
        self.fingerprint = fingerprint(self._bytes)


def as_key(key: "Key | bytes | None") -> "Key | None":
    """``key`` as a :class:`Key` (bytes are checked the same way as a key file's)."""
    if key is None or isinstance(key, Key):
        return key
    return Key(key)

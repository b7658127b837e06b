"""Verification of signed requests (``energy_agents.client.signing`` says how they are signed).

A verifier checks the four headers' form, that the timestamp is within a window of its clock,
and the signature over method, path, time, nonce and body; the store checks that the nonce was
not seen before.

Verification uses libsecp256k1 through ``coincurve`` when it is installed (about 0.1 ms instead
of about 6 ms for the pure-Python ``ecdsa`` behind ``Identity.verify_digest``) and falls back to
``Identity.verify_digest``; both accept exactly the same signatures (a test checks it): the
signature's S value is normalized first, as ``ecdsa`` accepts high-S signatures.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from ...client.signing import (
    HEADER_NONCE,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    MAX_NONCE_LENGTH,
    SIGNATURE_HEADERS,
    request_digest,
)

DEFAULT_WINDOW_S = 60.0


class SignatureError(ValueError):
    """A request whose signature headers are missing or wrong; ``field`` names the header."""

    def __init__(self, field: str, reason: str, status: int = 401) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class VerifiedRequest:
    address: str
    timestamp: float
    nonce: str


def has_signature(headers: Mapping[str, str]) -> bool:
    """True when any of the signature headers is present (then all must be right)."""
    return any(headers.get(h) for h in SIGNATURE_HEADERS)


def verify_request(
    headers: Mapping[str, str],
    method: str,
    path: str,
    body: bytes,
    *,
    now: float | None = None,
    window_s: float = DEFAULT_WINDOW_S,
) -> VerifiedRequest:
    """Check the signature headers of a request; raise :class:`SignatureError` naming the header.

    Checks presence and form of the headers, the timestamp window (``|now - timestamp| <=
    window_s``) and the signature over method, path, timestamp, nonce and body. It does not
    check that the address is allowed, nor that the nonce is new: the caller does.
    """
    values = {}
    for h in SIGNATURE_HEADERS:
        v = headers.get(h)
        if not v:
            raise SignatureError(h, "missing signature header")
        values[h] = v
    address, ts_text, nonce, signature = (values[h] for h in SIGNATURE_HEADERS)
    if len(nonce) > MAX_NONCE_LENGTH or not nonce.isprintable():
        raise SignatureError(
            HEADER_NONCE, f"must be 1-{MAX_NONCE_LENGTH} printable characters", 400
        )
    try:
        ts = float(ts_text)
    except ValueError:
        raise SignatureError(HEADER_TIMESTAMP, "must be unix seconds", 400) from None
    if not math.isfinite(ts):
        raise SignatureError(HEADER_TIMESTAMP, "must be unix seconds", 400)
    current = time.time() if now is None else now
    if abs(current - ts) > window_s:
        raise SignatureError(
            HEADER_TIMESTAMP, f"stale: more than {window_s:g} s from the server's clock"
        )
    digest = request_digest(method, path, ts_text, nonce, body)
    if not verify_digest(address, digest, signature):
        raise SignatureError(HEADER_SIGNATURE, "does not match the request and the address")
    return VerifiedRequest(address, ts, nonce)


def verify_digest(address: str, digest: bytes, signature: str) -> bool:
    """True when ``signature`` is ``address``'s signature of ``digest``; False otherwise
    (malformed address or signature included). Same answers as ``Identity.verify_digest``."""
    try:
        fast = _fast_verifier()
        if fast is not None:
            return fast(address, digest, signature)
        from uagents_core.identity import Identity

        return bool(Identity.verify_digest(address, digest, signature))
    except Exception:  # Identity.verify_digest raises on a bad signature or encoding
        return False


@lru_cache(maxsize=1)
def _fast_verifier():
    try:
        import coincurve
        from coincurve._libsecp256k1 import ffi, lib
    except ImportError:  # pragma: no cover - depends on the installation
        return None
    ctx = coincurve.context.GLOBAL_CONTEXT.ctx

    @lru_cache(maxsize=1024)
    def public_key(address: str):
        prefix, data = _decode_bech32(address)
        if prefix != "agent" or len(data) != 33:
            raise ValueError("not an agent address")
        return coincurve.PublicKey(data).public_key

    def verify(address: str, digest: bytes, signature: str) -> bool:
        sig = _signature_bytes(signature)
        if sig is None or len(digest) != 32:
            return False
        parsed = ffi.new("secp256k1_ecdsa_signature *")
        if not lib.secp256k1_ecdsa_signature_parse_compact(ctx, parsed, sig):
            return False
        lib.secp256k1_ecdsa_signature_normalize(ctx, parsed, parsed)
        return bool(lib.secp256k1_ecdsa_verify(ctx, parsed, digest, public_key(address)))

    return verify


_BECH32_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_TO_BASE32_DIGITS = str.maketrans(_BECH32_CHARSET, "0123456789abcdefghijklmnopqrstuv")


def _signature_bytes(signature: str) -> bytes | None:
    """The 64 bytes of a ``sig1...`` bech32 signature, or None if it is not one.

    Fast path (C-level ``int(..., 32)`` instead of the pure-Python decoder): the bech32
    checksum is not checked, since it protects against typing errors, not forgery; a
    corrupted signature then fails the ECDSA verification instead."""
    if signature.isupper():  # bech32 allows all upper case
        signature = signature.lower()
    if len(signature) != 4 + 103 + 6 or not signature.startswith("sig1"):
        return None
    data = signature[4:-6]
    if data.strip(_BECH32_CHARSET):  # a character outside the charset
        return None
    value = int(data.translate(_TO_BASE32_DIGITS), 32)  # 515 bits: 512 + 3 zero padding
    if value & 0b111:
        return None
    return (value >> 3).to_bytes(64, "big")


def _decode_bech32(value: str) -> tuple[str, bytes]:
    import bech32

    prefix, data5 = bech32.bech32_decode(value)
    if not prefix or data5 is None:
        raise ValueError("not bech32")
    data8 = bech32.convertbits(data5, 5, 8, False)
    if data8 is None:
        raise ValueError("not bech32")
    return prefix, bytes(data8)

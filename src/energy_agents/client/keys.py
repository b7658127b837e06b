"""A uagents-compatible identity key in the standard library: sign without installing uagents.

:class:`IdentityKey` derives the same key and ``agent1...`` address as
``uagents_core.identity.Identity`` (``from_seed(seed, index)`` and ``from_hex(private_key)``)
and signs digests the way it does: ECDSA over secp256k1, SHA-256 digests, the 64-byte
``r || s`` signature in bech32 with the prefix ``sig``. Nonces are deterministic (RFC 6979)
and ``s`` is low, so ``Identity.verify_digest`` and libsecp256k1 (the server's two verifiers)
accept every signature. Pure Python: about 2 ms a signature, plenty for one request a step;
:func:`.signing.sign_digest` uses ``coincurve`` instead when it is installed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

# secp256k1: y^2 = x^3 + 7 over F_P, generator G of order N.
P = 2**256 - 2**32 - 977
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
G = (
    0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798,
    0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8,
)

_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


class IdentityKey:
    """A signer for :func:`.signing.sign_headers`: ``address``, ``private_key``, ``sign_digest``."""

    def __init__(self, secret: bytes) -> None:
        d = int.from_bytes(secret, "big")
        if not 0 < d < N or len(secret) != 32:
            raise ValueError("private key: must be 32 bytes in 1..n-1 of secp256k1")
        self._d = d
        x, y = _mul(d, G)
        self.public_key = bytes([2 + (y & 1)]) + x.to_bytes(32, "big")
        self.address = bech32_encode("agent", self.public_key)

    @classmethod
    def from_seed(cls, seed: str, index: int = 0) -> IdentityKey:
        """The key of ``uagents_core.identity.Identity.from_seed(seed, index)``."""
        if not 0 <= index < 256:
            raise ValueError("index: must be 0..255")
        prefix = hashlib.sha256(b"agent" + bytes([index])).digest()
        return cls(hashlib.sha256(prefix + hashlib.sha256(seed.encode()).digest()).digest())

    @classmethod
    def from_hex(cls, private_key: str) -> IdentityKey:
        """The key of ``Identity.from_string(private_key)`` (64 hex digits)."""
        try:
            raw = bytes.fromhex(private_key.strip())
        except ValueError:
            raise ValueError("private key: must be 64 hex digits") from None
        return cls(raw)

    @classmethod
    def generate(cls) -> IdentityKey:
        return cls((secrets.randbelow(N - 1) + 1).to_bytes(32, "big"))

    @property
    def private_key(self) -> str:
        """The 64 hex digits ``Identity.private_key`` gives (and ``from_hex`` reads)."""
        return self._d.to_bytes(32, "big").hex()

    def sign_digest(self, digest: bytes) -> str:
        if len(digest) != 32:
            raise ValueError("digest: must be 32 bytes")
        z = int.from_bytes(digest, "big") % N
        for k in _rfc6979_nonces(self._d, digest):
            r = _mul(k, G)[0] % N
            if r == 0:
                continue
            s = pow(k, -1, N) * (z + r * self._d) % N
            if s == 0:
                continue
            s = min(s, N - s)  # low S: what libsecp256k1 verifies
            return bech32_encode("sig", r.to_bytes(32, "big") + s.to_bytes(32, "big"))
        raise AssertionError("unreachable")  # pragma: no cover

    def __repr__(self) -> str:
        return f"IdentityKey({self.address})"


def _rfc6979_nonces(d: int, digest: bytes):
    """RFC 6979 section 3.2 with HMAC-SHA256 (what ecdsa and libsecp256k1 use)."""
    x = d.to_bytes(32, "big")
    h = (int.from_bytes(digest, "big") % N).to_bytes(32, "big")
    v, k = b"\x01" * 32, b"\x00" * 32
    k = hmac.new(k, v + b"\x00" + x + h, hashlib.sha256).digest()
    v = hmac.new(k, v, hashlib.sha256).digest()
    k = hmac.new(k, v + b"\x01" + x + h, hashlib.sha256).digest()
    v = hmac.new(k, v, hashlib.sha256).digest()
    while True:
        v = hmac.new(k, v, hashlib.sha256).digest()
        candidate = int.from_bytes(v, "big")
        if 0 < candidate < N:
            yield candidate
        k = hmac.new(k, v + b"\x00", hashlib.sha256).digest()
        v = hmac.new(k, v, hashlib.sha256).digest()


# Jacobian coordinates (X, Y, Z) ~ (X/Z^2, Y/Z^3): one inversion per multiplication.
def _double(p: tuple[int, int, int]) -> tuple[int, int, int]:
    x, y, z = p
    if y == 0:
        return 0, 0, 0
    s = 4 * x * y * y % P
    m = 3 * x * x % P
    nx = (m * m - 2 * s) % P
    return nx, (m * (s - nx) - 8 * pow(y, 4, P)) % P, 2 * y * z % P


def _add(p: tuple[int, int, int], q: tuple[int, int, int]) -> tuple[int, int, int]:
    if p[2] == 0:
        return q
    if q[2] == 0:
        return p
    x1, y1, z1 = p
    x2, y2, z2 = q
    z1s, z2s = z1 * z1 % P, z2 * z2 % P
    u1, u2 = x1 * z2s % P, x2 * z1s % P
    s1, s2 = y1 * z2s * z2 % P, y2 * z1s * z1 % P
    if u1 == u2:
        return _double(p) if s1 == s2 else (0, 0, 0)
    h, r = (u2 - u1) % P, (s2 - s1) % P
    h2 = h * h % P
    h3 = h * h2 % P
    nx = (r * r - h3 - 2 * u1 * h2) % P
    return nx, (r * (u1 * h2 - nx) - s1 * h3) % P, h * z1 * z2 % P


def _mul(k: int, point: tuple[int, int]) -> tuple[int, int]:
    result: tuple[int, int, int] = (0, 0, 0)
    addend = (point[0], point[1], 1)
    while k:
        if k & 1:
            result = _add(result, addend)
        addend = _double(addend)
        k >>= 1
    x, y, z = result
    zi = pow(z, -1, P)
    return x * zi * zi % P, y * zi * zi * zi % P


def _polymod(values: list[int]) -> int:
    gen = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= gen[i] if (top >> i) & 1 else 0
    return chk


def bech32_encode(prefix: str, data: bytes) -> str:
    """Bech32 (BIP 173) of ``data``'s bits in 5-bit groups, as uagents encodes addresses."""
    acc, bits, groups = 0, 0, []
    for byte in data:
        acc = (acc << 8) | byte
        bits += 8
        while bits >= 5:
            bits -= 5
            groups.append((acc >> bits) & 31)
    if bits:
        groups.append((acc << (5 - bits)) & 31)
    expanded = [ord(c) >> 5 for c in prefix] + [0] + [ord(c) & 31 for c in prefix]
    poly = _polymod(expanded + groups + [0] * 6) ^ 1
    checksum = [(poly >> 5 * (5 - i)) & 31 for i in range(6)]
    return prefix + "1" + "".join(_BECH32[g] for g in groups + checksum)

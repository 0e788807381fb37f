"""Optional message signing: HMAC-SHA256 over the whole body, named by a key id.

A worker that holds keys refuses a message that is unsigned, signed with a key it does not know,
or altered after signing — before any of its content is decoded or run. Keys rotate by id:
producers sign with one id, workers accept every id they hold.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from arame.errors import ConfigurationError, MessageError

SIGNATURE_HEADER = "x-arame-signature"


class Signer:
    """Signs and verifies message bodies.

    Args:
        keys: key id -> secret; every id here is accepted when verifying.
        key_id: the id to sign with; must be one of ``keys``.
    """

    def __init__(self, keys: Mapping[str, bytes | str], key_id: str) -> None:
        if key_id not in keys:
            raise ConfigurationError(f"signing key id {key_id!r} is not among the keys given")
        self._keys = {kid: key.encode() if isinstance(key, str) else key for kid, key in keys.items()}
        self._key_id = key_id

    def sign(self, body: bytes) -> str:
        """The header value that proves ``body`` came from a holder of the key."""
        return f"{self._key_id}:{_digest(self._keys[self._key_id], body)}"

    def verify(self, body: bytes, signature: object) -> None:
        """Check a header value against ``body``.

        Raises:
            MessageError: missing, malformed, unknown key, or a digest that does not match.
        """
        if not isinstance(signature, str) or ":" not in signature:
            raise MessageError("the message is not signed and this worker requires signatures")
        key_id, _, digest = signature.partition(":")
        key = self._keys.get(key_id)
        if key is None:
            raise MessageError(f"the message is signed with unknown key id {key_id!r}")
        if not hmac.compare_digest(digest, _digest(key, body)):
            raise MessageError(f"the signature (key id {key_id!r}) does not match the body: altered")


def _digest(key: bytes, body: bytes) -> str:
    return hmac.new(key, body, hashlib.sha256).hexdigest()

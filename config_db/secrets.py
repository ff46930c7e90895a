"""Encrypting tokens at rest and masking them in answers."""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from config_db.errors import ConfigError

# Fixed salt and label: the key must be derivable again from SHOPSYNC_SECRET_KEY alone.
_HKDF_SALT = b"shopsync-token-encryption"
_HKDF_INFO = b"fernet-v1"


class SecretDecryptionError(ConfigError):
    code = "secret_decryption_failed"


def derive_fernet_key(secret_key: str) -> bytes:
    """A Fernet key derived from any string with HKDF-SHA256."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=_HKDF_SALT, info=_HKDF_INFO)
    return base64.urlsafe_b64encode(hkdf.derive(secret_key.encode()))


class TokenCipher:
    """Encrypts and decrypts tokens with a key derived from SHOPSYNC_SECRET_KEY."""

    def __init__(self, secret_key: str) -> None:
        self._fernet = Fernet(derive_fernet_key(secret_key))

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken:
            # Never include the ciphertext: it is as sensitive as the token once keys leak.
            raise SecretDecryptionError(
                "a stored secret cannot be decrypted (was SHOPSYNC_SECRET_KEY changed?)"
            ) from None


def mask_secret(secret: str | None) -> str | None:
    """`shpat_…9f2c`: the token's kind prefix and last four characters, nothing more."""
    if secret is None:
        return None
    if len(secret) < 12:
        return "…"
    prefix = secret.split("_", 1)[0] + "_" if "_" in secret[:8] else ""
    return f"{prefix}…{secret[-4:]}"

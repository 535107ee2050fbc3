#!/usr/bin/env python3
"""Writes test/fixtures/fernet-tokens.json: Fernet tokens made by the real Python library
(cryptography's Fernet, which Flask apps use), so src/crypto/fernet.test.ts proves Strongroom
decrypts what those apps actually stored.

Needs Debian's python3-cryptography:
    apt-get install -y python3-cryptography
    /usr/bin/python3 scripts/make-fernet-fixtures.py
(/usr/bin/python3 because a pyenv/virtualenv python3 earlier on PATH will not see Debian's
modules.)

The file is {"generator", "key", "other_key", "cases": [{"label", "token", "plaintext_b64"}]}:
`key` decrypts every case, `other_key` is a second random key that must decrypt none.
Keys and IVs are random, so every run produces different tokens; all of them must decrypt.
"""

import base64
import importlib.metadata
import json
import pathlib

from cryptography.fernet import Fernet, InvalidToken

OUTPUT = pathlib.Path(__file__).resolve().parent.parent / "test/fixtures/fernet-tokens.json"

CRYPTOGRAPHY_VERSION = importlib.metadata.version("cryptography")

CASES = [
    ("ascii", b"hello"),
    # Python encrypts b"" happily; Strongroom's import refuses empty values later, not Fernet.
    ("empty", b""),
    ("unicode", "pässwörd ✓ 密码".encode("utf-8")),
    # Exactly one AES block: PKCS#7 then adds a whole block of padding.
    ("block-aligned", b"0123456789abcdef"),
    ("long", b"x" * 5000),
]


def main() -> None:
    key = Fernet.generate_key()
    other_key = Fernet.generate_key()
    fernet = Fernet(key)
    other = Fernet(other_key)

    cases = []
    for label, plaintext in CASES:
        token = fernet.encrypt(plaintext)
        # Check with the Python side's own verifier before writing it down.
        assert fernet.decrypt(token) == plaintext, label
        try:
            other.decrypt(token)
        except InvalidToken:
            pass
        else:
            raise AssertionError(f"{label}: decrypts with the other key")
        cases.append(
            {
                "label": label,
                "token": token.decode("ascii"),
                "plaintext_b64": base64.b64encode(plaintext).decode("ascii"),
            }
        )

    fixture = {
        "generator": f"python3-cryptography {CRYPTOGRAPHY_VERSION} (Fernet)",
        "key": key.decode("ascii"),
        "other_key": other_key.decode("ascii"),
        "cases": cases,
    }
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(json.dumps(fixture, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {len(cases)} tokens to {OUTPUT}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Writes test/fixtures/legacy-password-hashes.json: password hashes made by the real Python
libraries (bcrypt, werkzeug.security) that Flask apps use, so src/crypto/passwords.test.ts
proves Strongroom verifies what those apps actually stored.

Needs Debian's python3-bcrypt and python3-werkzeug:
    apt-get install -y python3-bcrypt python3-werkzeug
    /usr/bin/python3 scripts/make-legacy-hash-fixtures.py
(/usr/bin/python3 because a pyenv/virtualenv python3 earlier on PATH will not see Debian's
modules.)

Each entry is {"format", "password", "hash", "generator"}. Salts are random, so every run
produces different hashes; all of them must verify.

Werkzeug added scrypt in 2.3. When the installed Werkzeug is older (Debian 12 ships 2.2.2),
scrypt entries are made with hashlib.scrypt exactly as werkzeug>=2.3's _hash_internal does
(UTF-8 salt string, dklen 64, "scrypt:N:r:p$salt$hex"), and their "generator" says so. That
transcription reproduces hashes published from real Werkzeug 3 output.
"""

import hashlib
import importlib.metadata
import json
import pathlib
import secrets

import bcrypt
from werkzeug.security import check_password_hash, gen_salt, generate_password_hash

OUTPUT = pathlib.Path(__file__).resolve().parent.parent / "test/fixtures/legacy-password-hashes.json"

WERKZEUG_VERSION = importlib.metadata.version("werkzeug")
BCRYPT_VERSION = importlib.metadata.version("bcrypt")

ASCII = "correct horse battery staple"
NON_ASCII = "pässwörd ✓ 密码"
# 100 characters: longer than bcrypt's 72-byte window, so only the first 72 bytes count there.
LONG = "the quick brown fox jumps over the lazy dog; bcrypt stops reading at byte 72, werkzeug reads it all!"
assert len(LONG) == 100


def bcrypt_hash(password: str, prefix: bytes) -> str:
    # Cost 4 (the minimum) keeps the test suite fast; cost is read from the hash anyway.
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(4, prefix=prefix)).decode()


def werkzeug_scrypt(password: str, method: str) -> tuple[str, str]:
    try:
        return generate_password_hash(password, method=method), f"werkzeug {WERKZEUG_VERSION}"
    except ValueError:
        pass  # Werkzeug < 2.3 has no scrypt: transcribe werkzeug>=2.3's algorithm below.
    args = method.split(":")[1:]
    n, r, p = (int(a) for a in args) if args else (2**15, 8, 1)
    salt = gen_salt(16)
    derived = hashlib.scrypt(
        password.encode("utf-8"), salt=salt.encode("utf-8"), n=n, r=r, p=p, maxmem=132 * n * r * p
    ).hex()
    return (
        f"scrypt:{n}:{r}:{p}${salt}${derived}",
        f"hashlib.scrypt as werkzeug>=2.3 does (installed werkzeug {WERKZEUG_VERSION} has no scrypt)",
    )


def main() -> None:
    entries = []

    def add(fmt: str, password: str, hashed: str, generator: str) -> None:
        entries.append({"format": fmt, "password": password, "hash": hashed, "generator": generator})

    bcrypt_generator = f"bcrypt {BCRYPT_VERSION}"
    for password in (ASCII, NON_ASCII, LONG):
        add("bcrypt-2b", password, bcrypt_hash(password, b"2b"), bcrypt_generator)
    add("bcrypt-2a", ASCII, bcrypt_hash(ASCII, b"2a"), bcrypt_generator)
    # PHP's password_hash() writes $2y$; the algorithm is $2b$'s, only the label differs.
    as_2y = "$2y$" + bcrypt_hash(NON_ASCII, b"2b")[4:]
    add("bcrypt-2y", NON_ASCII, as_2y, f"{bcrypt_generator}, $2b$ relabelled $2y$ as PHP writes it")

    werkzeug_generator = f"werkzeug {WERKZEUG_VERSION}"
    pbkdf2_methods = {
        # Werkzeug writes the version's default count into the hash (260000 in 2.2).
        "pbkdf2:sha256": [ASCII],
        "pbkdf2:sha256:1000": [ASCII, NON_ASCII, LONG],
        "pbkdf2:sha512:1000": [ASCII, NON_ASCII],
        # Werkzeug < 0.15 defaulted to pbkdf2:sha1, so old Flask databases hold these.
        "pbkdf2:sha1:1000": [ASCII],
    }
    for method, passwords in pbkdf2_methods.items():
        for password in passwords:
            hashed = generate_password_hash(password, method=method)
            add(f"werkzeug-{method}", password, hashed, werkzeug_generator)

    scrypt_methods = {"scrypt": [ASCII, NON_ASCII], "scrypt:16384:8:1": [ASCII, LONG]}
    for method, passwords in scrypt_methods.items():
        for password in passwords:
            hashed, generator = werkzeug_scrypt(password, method)
            add(f"werkzeug-{method}", password, hashed, generator)

    # Check everything with the Python side's own verifiers before writing it down.
    for entry in entries:
        pw, hashed = entry["password"], entry["hash"]
        if entry["format"].startswith("bcrypt"):
            as_2b = "$2b$" + hashed[4:]
            assert bcrypt.checkpw(pw.encode("utf-8"), as_2b.encode()), entry
        elif entry["generator"].startswith("werkzeug"):
            assert check_password_hash(hashed, pw), entry
            assert not check_password_hash(hashed, pw + "x"), entry
        else:
            method, salt, hexhash = hashed.split("$", 2)
            n, r, p = (int(a) for a in method.split(":")[1:])
            again = hashlib.scrypt(
                pw.encode(), salt=salt.encode(), n=n, r=r, p=p, maxmem=132 * n * r * p
            ).hex()
            assert secrets.compare_digest(again, hexhash), entry

    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(json.dumps(entries, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {len(entries)} hashes to {OUTPUT}")


if __name__ == "__main__":
    main()

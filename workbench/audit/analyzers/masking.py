"""Secrets never appear in full in a finding: evidence and messages show a secret's first four characters and `…`."""

from __future__ import annotations

import hashlib
import re


def mask(secret: str) -> str:
    return secret[:4] + "…" if len(secret) > 4 else "…"


def mask_literals(text: str) -> str:
    """Mask every quoted string (for lines known to hold a secret whose exact extent is unknown)."""
    return re.sub(r"(['\"`])([^'\"`]*)\1", lambda m: m[1] + mask(m[2]) + m[1], text)


def mask_hashed(line: str, hashed: str) -> str:
    """Mask the secret detect-secrets found on `line`, recognized by its SHA-1; every literal if none matches."""
    candidates = {m[2] for m in re.finditer(r"(['\"`])(.+?)\1", line)}
    candidates.update(re.findall(r"[^\s'\"`,;()\[\]{}<>]+", line))
    candidates.update(part for token in list(candidates) for part in re.split(r"[=:]", token, maxsplit=1))
    for candidate in sorted(candidates, key=len, reverse=True):
        if candidate and hashlib.sha1(candidate.encode()).hexdigest() == hashed:
            return line.replace(candidate, mask(candidate))
    masked = mask_literals(line)
    return re.sub(r"[\w+/=-]{16,}", lambda m: mask(m[0]), masked)

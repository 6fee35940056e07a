"""A deterministic embedder for tests: no model, no network, same vectors in every process."""

from __future__ import annotations

import hashlib
import math
import re

from langchain_core.embeddings import Embeddings

_WORD = re.compile(r"\w+", re.UNICODE)


class FakeEmbeddings(Embeddings):
    """Hashing bag-of-words embeddings, L2-normalised.

    Each lowercased word adds +1 or -1 to one of ``dim`` buckets (both picked by a blake2b hash of the word), so
    texts that share words point the same way and identical texts get identical vectors. A text without words
    gets a fixed unit vector rather than a zero vector (cosine is undefined for zero vectors).
    """

    def __init__(self, dim: int = 64) -> None:
        if dim < 2:
            raise ValueError("dim must be at least 2")
        self.dim = dim

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """One normalised vector per text."""
        return [self._embed(text) for text in texts]

    def embed_query(self, text: str) -> list[float]:
        """The same space as documents: a query equal to a document gets that document's vector."""
        return self._embed(text)

    def _embed(self, text: str) -> list[float]:
        vector = [0.0] * self.dim
        for word in _WORD.findall(text.lower()):
            digest = hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest()
            bucket = int.from_bytes(digest[:4], "little") % self.dim
            vector[bucket] += 1.0 if digest[4] & 1 else -1.0
        norm = math.sqrt(sum(v * v for v in vector))
        if norm == 0.0:
            return [1.0] + [0.0] * (self.dim - 1)
        return [v / norm for v in vector]

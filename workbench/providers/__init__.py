"""Capabilities (LLM, embeddings, vector store, speech): each a small interface with adapters picked by a
``"provider/model"`` string."""

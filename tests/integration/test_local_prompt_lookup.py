"""Prompt-lookup decoding (``WORKBENCH_LOCAL_LLM_PROMPT_LOOKUP``) on a real bundled model: it answers prompts longer
than llama.cpp's batch (the chat graph's whole chunks run past 512 tokens), as the model without it does."""

from __future__ import annotations

import pytest
from langchain_core.messages import HumanMessage

from workbench.providers.llm import local_runtime_available
from workbench.resources import Resources
from workbench.settings import Settings

pytestmark = pytest.mark.integration

MODEL = "local/smollm2-135m"


@pytest.fixture(autouse=True)
def bundled_model() -> None:
    if not local_runtime_available("smollm2-135m"):
        pytest.skip("the bundled local/smollm2-135m is not installed")


def test_prompt_lookup_answers_a_prompt_longer_than_a_batch(tmp_path):
    settings = Settings(_env_file=None, home=tmp_path, llm=MODEL, warm_chat=False, local_llm_prompt_lookup=4)
    model = Resources(settings).models.choose(MODEL).model
    passages = "\n".join(f"[{i}] Server number {i} listens on port {8000 + i}." for i in range(1, 61))
    reply = model.invoke([HumanMessage(f"{passages}\n\nWhich port does server number 7 listen on?")])
    assert reply.usage_metadata is not None and reply.usage_metadata["input_tokens"] > 512, reply.usage_metadata
    assert str(reply.content).strip(), "an answer, not an overflowed logits buffer"

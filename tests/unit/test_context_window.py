"""The passages a model reads: the best sentences for the question, under their own citation numbers, within a
token budget; and the prompt layout that keeps the system message the same on every turn."""

from __future__ import annotations

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from graphs.chat_prompts import answer_prompt, prompt_messages
from workbench.citations import after_context, format_passages, parse_context
from workbench.context_window import approx_tokens, rank_sentences, select_passages, whole_passages
from workbench.providers.llm_extractive import ExtractiveChatModel
from workbench.providers.llm_local import reused_prefix


def doc(text: str, source: str = "corpus/a.md") -> dict:
    return {"text": text, "source": source, "chunk_id": source, "score": 1.0, "dense_score": 0.5}


DOCS = [
    doc("Agent Workbench is a workbench for agents. It has a chat tab and a voice tab. Sessions are kept."),
    doc("The sample corpus ships with the project. Nothing here is about networking at all, honestly."),
    doc("The server listens on port 8000 by default. Set WORKBENCH_PORT to change the port it listens on."),
    doc("Logs go to the run log. Every run is a trace you can open in the browser."),
]


def test_the_chosen_sentences_keep_the_number_of_the_chunk_they_come_from():
    passages = select_passages("Which port does the server listen on?", DOCS, budget=40)
    numbers = [number for number, _ in passages]
    assert numbers[0] == 3, passages
    assert "port 8000" in dict(passages)[3]
    assert 2 not in numbers, "a chunk with no sentence about the question is left out, not renumbered"
    context = format_passages(passages)
    assert parse_context(context) == passages, "the block reads back as the same numbered passages"


def test_the_passages_stay_within_the_budget_counted_with_the_given_tokenizer():
    words = lambda text: len(text.split())  # noqa: E731 - a tokenizer of whole words
    for budget in (5, 12, 20, 30, 60):
        passages = select_passages("port server listens default change run trace", DOCS, budget, words)
        spent = sum(words(f"[{n}] ") + words(text + " ") for n, text in passages)
        assert 0 < spent <= budget, (budget, passages)
    whole = sum(len(d["text"].split()) for d in DOCS)
    assert sum(len(t.split()) for _, t in select_passages("port", DOCS, 10 * whole, words)) < whole, (
        "even a large budget takes only sentences that share a word with the question"
    )


def test_sentences_come_back_in_document_order_and_the_best_one_is_cut_when_it_alone_is_over_budget():
    passages = select_passages("port listens server WORKBENCH_PORT change", DOCS, budget=200)
    text = dict(passages)[3]
    assert text.index("8000") < text.index("WORKBENCH_PORT"), "sentences keep their order inside the chunk"
    cut = select_passages("Which port does the server listen on?", DOCS, budget=6)
    assert len(cut) == 1 and cut[0][0] == 3 and cut[0][1].endswith("…") and approx_tokens(f"[3] {cut[0][1]}") <= 6


def test_a_question_sharing_no_word_with_the_chunks_gets_the_first_chunks_opening_sentences():
    passages = select_passages("zebra quantum", DOCS, budget=30)
    assert [n for n, _ in passages] == [1] and passages[0][1].startswith("Agent Workbench")
    assert select_passages("anything", [], budget=30) == []
    assert whole_passages(DOCS[:2]) == [(1, DOCS[0]["text"]), (2, DOCS[1]["text"])]


def test_ranking_prefers_rarer_question_words_and_earlier_chunks():
    ranked = rank_sentences("port trace", [(n, d["text"]) for n, d in enumerate(DOCS, start=1)])
    assert {s.number for s in ranked} == {3, 4}
    assert all(s.score > 0 for s in ranked)


def test_the_v3_prompt_keeps_its_system_message_fixed_and_asks_with_the_context_in_the_turn():
    prompt = answer_prompt("v3")
    history = [HumanMessage("first?", id="h1"), AIMessage("one [1]"), HumanMessage("Which port?", id="h2")]
    context = format_passages([(3, "The server listens on port 8000 by default.")])
    one = prompt_messages(prompt, prompt.render(context=context), history, context)
    other = prompt_messages(prompt, prompt.render(context="<<<CONTEXT\n[1] else\nCONTEXT>>>"), history, "x")
    assert isinstance(one[0], SystemMessage) and one[0].content == other[0].content, "the system message is fixed"
    assert "8000" not in str(one[0].content)
    assert one[1].content == "first?" and one[2].content == "one [1]", "earlier turns are asked as they were"
    assert str(one[3].content).startswith("<<<CONTEXT") and str(one[3].content).endswith("Question: Which port?")
    assert one[3].id == "h2" and history[2].content == "Which port?", "the session's own message is not changed"
    assert after_context(str(one[3].content)) == "Question: Which port?"
    v1 = answer_prompt("v1")
    old = prompt_messages(v1, v1.render(context=context), history, context)
    assert "8000" in str(old[0].content) and old[1:] == history, "v1 keeps the passages in the system message"


def test_the_extractive_baseline_reads_a_turn_that_carries_its_context():
    prompt = answer_prompt("v3")
    context = format_passages([(2, "Nothing here."), (3, "The server listens on port 8000 by default.")])
    messages = prompt_messages(prompt, prompt.render(context=context), [HumanMessage("Which port?")], context)
    answer = str(ExtractiveChatModel().invoke(messages).content)
    assert "port 8000" in answer and answer.rstrip().endswith("[3]"), answer


def test_the_reused_prefix_is_the_common_start_less_the_last_token_when_the_prompt_is_all_cached():
    assert reused_prefix([], [1, 2, 3]) == 0
    assert reused_prefix([1, 2, 9, 9], [1, 2, 3]) == 2
    assert reused_prefix([1, 2, 3, 4], [1, 2, 3]) == 2, "the last prompt token is evaluated again for its logits"
    assert reused_prefix([1, 2], []) == 0

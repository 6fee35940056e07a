"""The chat-rag suite: its text metrics on hand-made strings, its cases (bundled + promoted), one case through
the real chat graph with a scripted model and a fake store (logged in the run log), setup and aggregation."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from evals.chat_rag import ChatRagSuite, graph_version, mlflow_template, score_answer
from graphs.chat_prompts import ANSWER_PROMPTS, REWRITE_PROMPT
from workbench.evals import metrics
from workbench.evals.cases import promote
from workbench.evals.suite import Case, CaseResult, Variant
from workbench.evals.tracking import client
from workbench.providers.llm import ModelRegistry
from workbench.providers.llm_extractive import LABEL, NOT_FOUND
from workbench.resources import Resources
from workbench.runlog import RunLog, RunRecord, set_runlog
from workbench.settings import Settings
from workbench.testing import ScriptedChatModel, logged_run

HOME_CHUNK = "| `WORKBENCH_HOME` | `./.workbench` | folder for every file the workbench writes |"
PORT_CHUNK = "By default the server listens on `127.0.0.1` port `8000`. Pass --port to change it."


# -- metrics --------------------------------------------------------------------------------------------------


def test_token_f1_normalizes_case_punctuation_articles_and_citations():
    assert metrics.token_f1("The answer is ./.workbench [1].", "./.workbench") == 0.5  # answer is workbench
    assert metrics.token_f1("`127.0.0.1` port 8000", "127.0.0.1 port 8000") == 1.0
    assert metrics.token_f1("a docs", "Docs!") == 1.0  # articles and punctuation do not count
    assert metrics.token_f1("something else", "docs") == 0.0
    assert metrics.token_f1("", "") == 1.0 and metrics.token_f1("", "docs") == 0.0


def test_token_f1_counts_repeated_tokens_once_per_occurrence():
    # precision 1/3 (only one "docs" of three is matched), recall 1 -> F1 0.5
    assert metrics.token_f1("docs docs docs", "docs") == pytest.approx(0.5)


def test_fact_containment_is_the_mean_share_of_each_facts_content_tokens_in_the_answer():
    facts = ["target size of 800 characters", "repeats up to 120 characters"]
    assert metrics.fact_containment("Chunks have a target size of 800 characters and repeat up to 120.", facts) == (
        pytest.approx((1.0 + 3 / 4) / 2)  # second fact: "up", "120", "characters" found, "repeats" not
    )
    both = "A target size of 800 characters; it repeats up to 120 characters."
    assert metrics.fact_containment(both, facts) == 1.0
    assert metrics.fact_containment("no idea", facts) == 0.0
    assert metrics.fact_containment("anything", []) is None
    assert metrics.fact_containment("anything", ["the of a"]) is None  # a fact of stopwords says nothing


def test_sentences_keep_their_own_citations_even_after_the_full_stop():
    answer = "The home is .workbench. [1] Qdrant runs locally [2][3].\nNo citation here"
    assert metrics.sentences(answer) == [
        ("The home is .workbench [1].", [1]),
        ("Qdrant runs locally [2][3].", [2, 3]),
        ("No citation here", []),
    ]


def test_groundedness_checks_each_sentence_against_the_passages_it_cites():
    passages = [HOME_CHUNK, PORT_CHUNK]
    supported = "The server listens on 127.0.0.1 port 8000 by default [2]."
    miscited = "The server listens on 127.0.0.1 port 8000 by default [1]."
    invented = "The server encrypts every message with quantum keys [2]."
    assert metrics.groundedness(supported, passages).score == 1.0
    assert metrics.groundedness(miscited, passages).score == 0.0
    mixed = metrics.groundedness(f"{supported} {invented}", passages)
    assert (mixed.score, mixed.checked, mixed.supported) == (0.5, 2, 1)


def test_groundedness_without_own_citations_uses_the_answers_citations_or_every_passage():
    passages = [HOME_CHUNK, PORT_CHUNK]
    plain = "The server listens on 127.0.0.1 port 8000 by default."
    assert metrics.groundedness(plain, passages, cited=[1]).score == 0.0
    assert metrics.groundedness(plain, passages, cited=[2]).score == 1.0
    assert metrics.groundedness(plain, passages).score == 1.0  # nothing cited: any retrieved passage
    assert metrics.groundedness(plain, []).score == 0.0  # nothing retrieved: nothing supports it
    short = metrics.groundedness("Yes. Port 8000.", passages)
    assert (short.score, short.checked) == (None, 0)  # too few content words to check


def test_first_relevant_rank_needs_the_source_file_and_a_fact():
    docs = [
        {"source": "/x/corpus/other.md", "text": HOME_CHUNK},
        {"source": "/x/corpus/configuration.md", "text": "nothing relevant"},
        {"source": "/x/corpus/configuration.md", "text": HOME_CHUNK},
    ]
    assert metrics.first_relevant_rank(docs, "configuration.md", ["| `WORKBENCH_HOME` | `./.workbench` |"]) == 3
    assert metrics.first_relevant_rank(docs, "configuration.md", ["absent fact"]) is None


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("SCORE: 4\nREASON: Correct but misses the overlap.", (4.0, "Correct but misses the overlap.")),
        ("**Score**: 5/5 - complete", (5.0, "**Score**: 5/5 - complete")),
        ('{"score": 2, "reason": "wrong port"}', (2.0, "wrong port")),
        ("I would give it 3 out of 5.", (3.0, "I would give it 3 out of 5.")),
        ("1", (1.0, "1")),
    ],
)
def test_judge_replies_are_parsed_robustly(reply, expected):
    assert metrics.parse_judge(reply) == expected


def test_unreadable_judge_replies_give_no_score():
    assert metrics.parse_judge("The answer looks fine to me.") is None
    assert metrics.parse_judge("SCORE: 9") is None


def test_the_judge_prompt_is_rendered_from_the_registered_template():
    text = metrics.render_judge("Which port?", "8000", "")
    assert "Question: Which port?" in text and "Reference answer: 8000" in text and "answer: (empty)" in text
    assert "{{" not in text


# -- the suite ------------------------------------------------------------------------------------------------


def test_prompts_are_converted_to_mlflow_templates():
    assert mlflow_template(ANSWER_PROMPTS["v1"]).endswith("Be concise.\n\n{{context}}")
    converted = mlflow_template(REWRITE_PROMPT)
    assert "{{conversation}}" in converted and "{{question}}" in converted and "{conversation}\n" not in converted
    assert len(graph_version()) == 12


def test_cases_are_the_bundled_qa_set_then_promoted_runs(tmp_path):
    settings = Settings(home=tmp_path)
    suite = ChatRagSuite()
    cases = suite.cases(settings)
    assert len(cases) == 48 and {c.source for c in cases} == {"bundled"}
    first = cases[0]
    assert first.id == "q01" and first.input == {"question": "WORKBENCH_HOME default"}
    assert first.expected["source"] == "configuration.md" and first.expected["answer"] == "./.workbench"
    assert first.expected["facts"] and first.expected["style"] == "keyword"

    with RunLog(settings.runlog_path) as log:
        log.log_run(
            RunRecord(
                run_id="22222222-bbbb", graph="chat", started_at=datetime.now(UTC), input="Which port?",
                output="Port 8000 [1].", retrieved=[{"chunk_id": "c", "source": "/d/installation.md", "score": 1.0}],
            )
        )  # fmt: skip
    promote(settings, "22222222-bbbb", include_output=True)
    cases = suite.cases(settings)
    assert len(cases) == 49
    promoted = cases[-1]
    assert (promoted.id, promoted.source, promoted.origin) == ("run-22222222", "promoted", "22222222-bbbb")
    assert promoted.expected == {"answer": "Port 8000 [1].", "sources": ["installation.md"]}


def _qa_case() -> Case:
    return Case(
        "q12",
        {"question": "serve default host port"},
        {"answer": "127.0.0.1 port 8000", "source": "installation.md", "style": "keyword",
         "facts": ["listens on `127.0.0.1` port `8000`"]},
    )  # fmt: skip


def _doc(i: int, source: str, text: str) -> dict:
    return {
        "chunk_id": f"c{i}", "source": f"/corpus/{source}", "title": source, "section": None, "page": None,
        "text": text, "score": 1.0 / i, "dense_score": 0.8, "sparse_score": 1.0,
    }  # fmt: skip


def test_an_extractive_answer_is_scored_without_its_header_and_refusals_claim_nothing():
    docs = [_doc(1, "configuration.md", HOME_CHUNK), _doc(2, "installation.md", PORT_CHUNK)]
    answer = f"{LABEL}\nBy default the server listens on `127.0.0.1` port `8000`. [2]"
    passed, scores, detail = score_answer(_qa_case(), answer, docs, [2], "explicit", 0.5)
    assert passed and detail["rank"] == 2
    assert scores["recall_at_k"] == 1.0 and scores["reciprocal_rank"] == 0.5
    assert scores["fact_containment"] == 1.0 and scores["groundedness"] == 1.0
    assert scores["answer_quality"] == max(scores["token_f1"], scores["fact_containment"])

    passed, scores, _ = score_answer(_qa_case(), NOT_FOUND, docs, [], "attributed", 0.5)
    assert not passed and "groundedness" not in scores and scores["answer_quality"] < 0.5


def test_a_promoted_case_is_scored_on_its_reference_and_earlier_sources():
    case = Case("run-1", {"question": "Which port?"}, {"answer": "Port 8000.", "sources": ["installation.md"]},
                "promoted", "1")  # fmt: skip
    docs = [_doc(1, "installation.md", PORT_CHUNK)]
    passed, scores, _ = score_answer(case, "The server uses port 8000 [1].", docs, [1], "explicit", 0.5)
    assert passed and scores["source_hit"] == 1.0 and "recall_at_k" not in scores
    assert scores["token_f1"] == pytest.approx(metrics.token_f1("The server uses port 8000 [1].", "Port 8000."))
    bare = Case("run-2", {"question": "Which port?"}, {}, "promoted", "2")
    passed, scores, _ = score_answer(bare, "Port 8000 [1].", docs, [1], "explicit", 0.5)
    assert passed and set(scores) <= {"groundedness"}


class FakeStore:
    def __init__(self, docs: list[dict]) -> None:
        self.docs = docs
        self.queries: list[tuple] = []

    def search(self, collection, query, k=5, filters=None, mode="hybrid"):
        self.queries.append((collection, query, k, mode))
        return self.docs[:k]

    def collections(self) -> list[str]:
        return ["docs"]

    def count(self, name: str) -> int:
        return len(self.docs)


@pytest.fixture
def fake_chat(tmp_path, monkeypatch):
    """A scripted model and a fake store as the clients of the real chat graph; the run log in the temporary home."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    settings = Settings(home=tmp_path, llm="fake")
    model = ScriptedChatModel()
    store = FakeStore([_doc(1, "configuration.md", HOME_CHUNK), _doc(2, "installation.md", PORT_CHUNK)])
    resources = Resources(settings, store=store, models=ModelRegistry(settings, {"fake": model}))
    runlog = RunLog(settings.runlog_path)
    set_runlog(runlog)
    yield resources, model, store, runlog
    set_runlog(None)
    runlog.close()


async def test_a_case_runs_one_logged_chat_turn_and_is_scored(fake_chat):
    resources, model, store, runlog = fake_chat
    model.enqueue("By default the server listens on 127.0.0.1 port 8000 [2].")
    suite = ChatRagSuite()
    variant = Variant("v2", {"model": "fake", "prompt_version": "v2", "top_k": 2})
    result = await suite.run_case(_qa_case(), variant, resources)

    assert result.outcome == "pass", result
    assert result.output == "By default the server listens on 127.0.0.1 port 8000 [2]."
    assert result.metrics["recall_at_k"] == 1.0 and result.metrics["reciprocal_rank"] == 0.5
    assert result.metrics["token_f1"] == pytest.approx(metrics.token_f1(result.output, "127.0.0.1 port 8000"))
    assert result.metrics["groundedness"] == 1.0
    assert 0 < result.metrics["ttft_s"] <= result.metrics["latency_s"]
    assert store.queries == [("docs", "serve default host port", 2, "hybrid")]
    assert "You answer questions about the user's documents." in str(model.calls[0][0].content)  # prompt v2

    run = logged_run(runlog, result.run_id)
    assert run is not None, "the case's run id is a run in the DuckDB log"
    assert (run["graph"], run["entry_point"], run["status"], run["prompt_version"]) == ("chat", "eval", "ok", "v2")
    assert run["session_id"].startswith("eval-q12-")


async def test_each_case_gets_a_fresh_session(fake_chat):
    resources, model, _, runlog = fake_chat
    suite = ChatRagSuite()
    variant = Variant("v", {"model": "fake"})
    first = await suite.run_case(Case("a", {"question": "first?"}), variant, resources)
    again = await suite.run_case(Case("a", {"question": "first?"}), variant, resources)
    assert [type(m).__name__ for m in model.calls[1][1:]] == ["HumanMessage"], "no history from the first case"
    sessions = {logged_run(runlog, r.run_id)["session_id"] for r in (first, again)}
    assert len(sessions) == 2 and first.run_id != again.run_id
    _, saver = suite._chat(resources)
    assert not any(saver.storage.values()), "a scored case's session is dropped from memory"


async def test_a_failing_turn_is_an_error_row_that_keeps_its_run_id(fake_chat):
    resources, model, _, runlog = fake_chat

    def explode(messages):
        raise RuntimeError("model down")

    model.enqueue(explode)
    result = await ChatRagSuite().run_case(_qa_case(), Variant("v", {"model": "fake"}), resources)
    assert result.outcome == "error" and "model down" in (result.error or "")
    assert logged_run(runlog, result.run_id)["status"] == "error"


async def test_setup_registers_the_variants_prompts_and_describes_the_run(fake_chat):
    resources, _, _, _ = fake_chat
    suite = ChatRagSuite()
    extra = await suite.setup(resources, Variant("v2", {"model": "fake", "prompt_version": "v2"}))
    assert extra["prompt_uris"] == ["prompts:/chat-answer/1", "prompts:/chat-rewrite/1"]
    assert (extra["model"], extra["model_resolved"], extra["prompt_name"]) == ("fake", "fake", "chat-answer")
    assert extra["graph_version"] == graph_version() and extra["judge"] == "off"
    assert (extra["collection"], extra["collection_points"]) == ("docs", 2)
    prompt = client(resources.settings).load_prompt("prompts:/chat-answer/1")
    assert prompt.template == mlflow_template(ANSWER_PROMPTS["v2"]) and prompt.tags["workbench_label"] == "v2"

    from workbench.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="unknown prompt version"):
        await suite.setup(resources, Variant("v9", {"prompt_version": "v9"}))
    with pytest.raises(ConfigurationError, match="cannot judge"):
        await suite.setup(resources, Variant("j", {"model": "fake", "judge_model": "extractive"}))
    auto = await suite.setup(resources, Variant("a", {"model": "fake", "judge_model": "auto"}))
    assert auto["judge"] == "off", "auto finds no capable judge offline"


async def test_a_judge_model_scores_answers_against_the_reference(fake_chat):
    resources, model, _, _ = fake_chat
    judge = ScriptedChatModel(default="SCORE: 4\nREASON: right port, no host.")
    resources.models.register("openai/judge", judge)
    suite = ChatRagSuite()
    variant = Variant("j", {"model": "fake", "judge_model": "openai/judge"})
    extra = await suite.setup(resources, variant)
    assert extra["judge"] == "openai/judge" and extra["prompt_uris"][-1] == "prompts:/eval-judge/1"
    model.enqueue("Port 8000 [2].")
    result = await suite.run_case(_qa_case(), variant, resources)
    assert result.metrics["judge_score"] == 4.0 and result.detail["judge_reason"] == "right port, no host."
    asked = str(judge.calls[0][0].content)
    assert "Reference answer: 127.0.0.1 port 8000" in asked and "Assistant's answer: Port 8000 [2]." in asked


def test_aggregate_means_percentiles_and_recall_per_style():
    def result(i: int, style: str, recall: float, latency: float) -> CaseResult:
        scores = {"recall_at_k": recall, "reciprocal_rank": recall / 2, "token_f1": 0.5, "groundedness": 1.0,
                  "ttft_s": latency / 2, "latency_s": latency}  # fmt: skip
        return CaseResult(f"c{i}", "pass", scores, detail={"style": style})

    results = [result(1, "keyword", 1.0, 1.0), result(2, "keyword", 0.0, 2.0), result(3, "exact", 1.0, 3.0)]
    results.append(CaseResult("broken", "error", error="boom"))
    out = ChatRagSuite().aggregate(results)
    assert out["recall_at_k"] == pytest.approx(2 / 3, abs=1e-4) and out["mrr"] == pytest.approx(1 / 3, abs=1e-4)
    assert out["recall_at_k_keyword"] == 0.5 and out["recall_at_k_exact"] == 1.0
    assert (out["latency_p50_s"], out["latency_p95_s"], out["ttft_p50_s"]) == (2.0, 3.0, 1.0)
    assert "judge_score" not in out and "fact_containment" not in out
    assert json.dumps(out)  # plain floats, loggable


async def test_another_collection_gets_the_sample_corpus_once(tmp_path):
    from evals.chat_rag import _ensure_corpus
    from workbench.providers.qdrant_store import QdrantStore
    from workbench.testing import FakeEmbeddings

    settings = Settings(home=tmp_path)
    store = QdrantStore.in_memory(FakeEmbeddings())
    resources = Resources(settings, store=store)
    points = await _ensure_corpus(resources, "qa-eval")
    assert points > 50 and store.collections() == ["qa-eval"], "the default collection is left alone"
    assert await _ensure_corpus(resources, "qa-eval") == points, "indexed once"
    store.close()

"""``chat-rag``: the chat graph over the QA set in ``datasets/`` (plus promoted cases), one chat turn per case.

``dataset`` names a question file of the researcher's own instead (JSON Lines or CSV, see
:mod:`workbench.evals.datasets`): its questions only, logged as the file's name and hash.

``agent`` runs an agent spec instead (``--agent rag_chat --agent research_loop`` compares two, case by case);
its version, file hash and drawing's hash are the run's ``agent_version``, ``agent_hash`` and ``graph_version``.

Per case (each a real turn through :class:`~workbench.turns.chat.ChatService`, logged in the DuckDB run log
with ``entry_point="eval"`` under the case's ``run_id``):

- retrieval: ``recall_at_k`` (a relevant chunk among the ``top_k`` retrieved: from the question's source file and
  holding one of its facts) and ``reciprocal_rank`` (1/rank of the first relevant chunk, 0 when none);
- answer quality: ``token_f1`` against the gold answer (the best over its accepted answers) and
  ``fact_containment`` of the gold facts (see :mod:`workbench.evals.metrics`); ``answer_quality`` is the larger
  of the two;
- ``groundedness``: the share of answer sentences supported by the chunks they cite (by the retrieved chunks
  when the citations were attributed, not written by the model);
- ``judge_score`` (1-5) when ``judge_model`` names a capable model; ``ttft_s`` and ``latency_s``.

A case passes when its answer quality reaches ``pass_threshold`` and retrieval found a relevant chunk. Promoted
cases have no gold facts: they are scored on what they carry (token F1 against the reference answer, whether
one of the earlier run's sources came back), plus groundedness and timings.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import string
import time
import uuid
from pathlib import Path
from typing import Any

from langchain_core.messages import HumanMessage
from langgraph.checkpoint.memory import InMemorySaver

from graphs.chat import builder
from graphs.chat_prompts import DEFAULT_VERSION, REWRITE_PROMPT, Prompt, answer_prompt
from workbench.agents import catalog, registry
from workbench.agents.compiler import compile_spec
from workbench.agents.spec import AgentSpec, LlmNode, RetrieverNode
from workbench.errors import ConfigurationError
from workbench.evals import metrics
from workbench.evals.cases import load_promoted
from workbench.evals.datasets import load_qa_dataset
from workbench.evals.suite import Case, CaseResult, Variant, mean, percentile
from workbench.evals.tracking import register_prompt
from workbench.events import ChatDoneEvent, RetrievalEvent, TokenEvent
from workbench.ingest.corpus import SAMPLE_CORPUS, index_corpus_if_empty
from workbench.providers.llm_extractive import LABEL, NOT_FOUND
from workbench.resources import Resources
from workbench.runtime import LocalRuntime
from workbench.settings import Settings
from workbench.turns.chat import ChatService, TurnRequest

DATASET = Path(__file__).resolve().parents[1] / "datasets" / "qa.jsonl"
#: Per-case metric -> the run's metric (their mean over the cases that have it).
MEANS = {
    "recall_at_k": "recall_at_k",
    "reciprocal_rank": "mrr",
    "token_f1": "token_f1",
    "fact_containment": "fact_containment",
    "answer_quality": "answer_quality",
    "groundedness": "groundedness",
    "judge_score": "judge_score",
    "source_hit": "source_hit_rate",
}


def mlflow_template(prompt: Prompt) -> str:
    """A ``str.format`` template in MLflow's syntax: ``{context}`` becomes ``{{context}}``, ``{{`` becomes ``{``."""
    parts = []
    for literal, field, _, _ in string.Formatter().parse(prompt.text):
        parts.append(literal)
        if field is not None:
            parts.append("{{" + field + "}}")
    return "".join(parts)


def graph_version() -> str:
    """Short hash of the chat graph's mermaid drawing: it changes when the graph's shape does."""
    drawing = builder.compile().get_graph().draw_mermaid()
    return hashlib.sha256(drawing.encode()).hexdigest()[:12]


def _agent_setup(name: str, variant: Variant, extra: dict[str, Any]) -> tuple[AgentSpec, list[Prompt]]:
    """The agent's spec and prompts; records its version, hash, drawing's hash and search settings in `extra`."""
    agent = catalog.require(name)
    spec = agent.spec
    assert spec is not None
    drawing = compile_spec(spec, folder=agent.path.parent).get_graph().draw_mermaid()
    extra |= {
        "agent_version": spec.version,
        "agent_hash": agent.digest,
        "graph_version": hashlib.sha256(drawing.encode()).hexdigest()[:12],
    }
    retrievers = [n for n in spec.nodes.values() if isinstance(n, RetrieverNode)]
    if retrievers and "top_k" not in variant.params:
        extra["top_k"] = ",".join(dict.fromkeys(str(n.top_k) for n in retrievers))
    if retrievers and "search_mode" not in variant.params:
        extra["search_mode"] = ",".join(dict.fromkeys(n.search for n in retrievers))
    table = registry.prompts()
    used = dict.fromkeys(n.prompt for n in spec.nodes.values() if isinstance(n, LlmNode))
    return spec, [table[p] for p in used]


def _dataset_params(dataset: str | Path | None) -> dict[str, str]:
    """The run's ``dataset_version`` (the questions file's hash), and ``dataset`` (its name) when imported."""
    if not dataset:
        return {"dataset_version": hashlib.sha256(DATASET.read_bytes()).hexdigest()[:12]}
    imported = load_qa_dataset(Path(dataset))
    return {"dataset": imported.name, "dataset_version": imported.version}


def answer_body(answer: str) -> str:
    """The answer without the extractive baseline's fixed header line."""
    return answer.removeprefix(LABEL).strip()


def score_answer(
    case: Case, answer: str, docs: list[dict[str, Any]], citations: list[int], citation_mode: str, threshold: float
) -> tuple[bool, dict[str, float], dict[str, Any]]:
    """``(passed, metrics, detail)`` of one answer to ``case`` given the documents retrieved for it."""
    expected = case.expected
    body = answer_body(answer)
    scores: dict[str, float] = {}
    detail: dict[str, Any] = {"sources": [Path(d["source"]).name for d in docs], "citations": citations}
    checks: list[bool] = []
    if expected.get("source") and expected.get("facts"):
        rank = metrics.first_relevant_rank(docs, expected["source"], expected["facts"])
        scores["recall_at_k"] = float(rank is not None)
        scores["reciprocal_rank"] = 1 / rank if rank else 0.0
        detail["rank"] = rank
        checks.append(rank is not None)
    elif expected.get("sources"):
        scores["source_hit"] = float(any(Path(d["source"]).name in expected["sources"] for d in docs))
        checks.append(bool(scores["source_hit"]))
    if expected.get("answer"):
        references = expected.get("answers") or [expected["answer"]]
        scores["token_f1"] = max(metrics.token_f1(body, answer_body(str(r))) for r in references)
        quality = scores["token_f1"]
        containment = metrics.fact_containment(body, expected.get("facts") or [])
        if containment is not None:
            scores["fact_containment"] = containment
            quality = max(quality, containment)
        scores["answer_quality"] = quality
        checks.append(quality >= threshold)
    else:
        checks.append(bool(body) and body != NOT_FOUND)
    if body != NOT_FOUND:  # a refusal makes no claim to ground
        cited = citations if citation_mode == "explicit" else []
        grounded = metrics.groundedness(body, [d["text"] for d in docs], cited)
        detail["sentences_checked"] = grounded.checked
        if grounded.score is not None:
            scores["groundedness"] = grounded.score
    return all(checks), scores, detail


class ChatRagSuite:
    name = "chat-rag"
    description = (
        "RAG chat over datasets/qa.jsonl (or an imported question file): recall@k, MRR, answer F1 and fact "
        "containment, groundedness"
    )
    defaults: dict[str, Any] = {
        "model": None,
        "prompt_version": DEFAULT_VERSION,
        "top_k": 5,
        "context_tokens": None,
        "search_mode": "hybrid",
        "collection": None,
        "judge_model": None,
        "pass_threshold": 0.5,
        "agent": None,
        "dataset": None,
    }

    def __init__(self) -> None:
        self._service: tuple[ChatService, InMemorySaver] | None = None
        self._judges: dict[str, str | None] = {}

    def knobs(self, variant: Variant) -> dict[str, Any]:
        return {**self.defaults, **variant.params}

    @staticmethod
    def agent(knobs: dict[str, Any]) -> str | None:
        """The agent spec a variant runs (``chat`` or none: the built-in chat graph)."""
        name = knobs.get("agent")
        return None if name in (None, "", "chat") else str(name)

    def cases(self, settings: Settings, dataset: Path | None = None) -> list[Case]:
        """Every question of ``datasets/qa.jsonl``, then the cases promoted from logged chat runs; with `dataset`,
        that file's questions only (promoted cases are about the bundled corpus). Raises
        :class:`~workbench.evals.datasets.DatasetError` for a file with bad lines."""
        if dataset is not None:
            return load_qa_dataset(dataset).cases
        bundled = []
        for line in DATASET.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                expected = {k: row[k] for k in ("answer", "source", "facts", "style") if k in row}
                bundled.append(Case(row["id"], {"question": row["question"]}, expected))
        return bundled + load_promoted(settings, self.name)

    async def setup(self, resources: Resources, variant: Variant) -> dict[str, Any]:
        """Index the corpus if the collection is empty, resolve the model (and judge), register the prompts."""
        knobs = self.knobs(variant)
        settings = resources.settings
        extra: dict[str, Any] = await asyncio.to_thread(_dataset_params, knobs["dataset"])  # a bad file fails first
        collection = knobs["collection"] or settings.collection
        points = await _ensure_corpus(resources, collection)
        agent = self.agent(knobs)
        if agent is None:
            try:
                prompts = [answer_prompt(knobs["prompt_version"]), REWRITE_PROMPT]
            except ValueError as exc:
                raise ConfigurationError(str(exc)) from None
            extra["graph_version"] = graph_version()
        else:
            _, prompts = await asyncio.to_thread(_agent_setup, agent, variant, extra)
        choice = await asyncio.to_thread(resources.models.choose, knobs["model"])
        uris = [register_prompt(settings, p.name, mlflow_template(p), p.version) for p in prompts]
        judge = resources.models.resolve(knobs["judge_model"], "judge")
        if judge is not None:
            await asyncio.to_thread(resources.models.choose, judge)  # fails now, not on every case
            uris.append(register_prompt(settings, metrics.JUDGE_NAME, metrics.JUDGE_TEMPLATE, metrics.JUDGE_VERSION))
        self._judges[variant.name] = judge
        return {
            "prompt_uris": uris,
            "model": knobs["model"] or settings.llm,
            "model_resolved": choice.spec,
            "prompt_name": prompts[0].name,
            "prompt_id": ",".join(p.id for p in prompts),
            "collection": collection,
            "collection_points": points,
            "judge": judge or "off",
            **extra,
        }

    async def run_case(self, case: Case, variant: Variant, resources: Resources) -> CaseResult:
        """One chat turn in a fresh session, timed, then scored."""
        knobs = self.knobs(variant)
        settings = resources.settings
        agent = self.agent(knobs)
        question = str(case.input.get("question") or "")
        run_id = str(uuid.uuid4())
        request = TurnRequest(
            content=question,
            session_id=f"eval-{case.id}-{run_id[:8]}",
            model=knobs["model"],
            collection=knobs["collection"] or settings.collection,
            # an agent searches as its spec says unless the variant sets top_k or search_mode
            top_k=int(knobs["top_k"]) if agent is None or "top_k" in variant.params else None,
            search_mode=knobs["search_mode"] if agent is None or "search_mode" in variant.params else None,
            prompt_version=knobs["prompt_version"],
            context_tokens=None if knobs["context_tokens"] in (None, "") else int(knobs["context_tokens"]),
            entry_point="eval",
            agent=agent,
        )
        docs: list[dict[str, Any]] = []
        done = ChatDoneEvent()
        started = time.perf_counter()
        first_token: float | None = None
        service, saver = self._chat(resources)
        try:
            async for event in service.stream(request, run_id):
                if isinstance(event, RetrievalEvent):
                    docs = [d.model_dump() for d in event.documents]
                elif isinstance(event, TokenEvent) and first_token is None:
                    first_token = time.perf_counter()
                elif isinstance(event, ChatDoneEvent):
                    done = event
        except Exception as exc:  # the run is logged (error or timed out) under run_id
            return CaseResult(case.id, "error", run_id=run_id, error=f"{type(exc).__name__}: {exc}"[:500])
        finally:
            ended = time.perf_counter()
            await saver.adelete_thread(request.session_id)
        answer = done.answer
        passed, scores, detail = score_answer(
            case, answer, docs, done.citations, str(done.citation_mode or ""),
            float(knobs["pass_threshold"]),
        )  # fmt: skip
        scores["latency_s"] = ended - started
        scores["ttft_s"] = (first_token or ended) - started
        judge = self._judges.get(variant.name)
        reference = case.expected.get("answer")
        if judge and reference:
            verdict = await _judge(resources, judge, question, answer_body(str(reference)), answer_body(answer))
            if isinstance(verdict, tuple):
                scores["judge_score"], detail["judge_reason"] = verdict
            else:
                detail["judge_error"] = verdict
        detail.update(question=question, style=case.expected.get("style"), model=done.model)
        return CaseResult(case.id, "pass" if passed else "fail", scores, answer, run_id, detail)

    def aggregate(self, results: list[CaseResult]) -> dict[str, float]:
        out: dict[str, float] = {}
        for metric, name in MEANS.items():
            value = mean(results, metric)
            if value is not None:
                out[name] = round(value, 4)
        for style in sorted({str(r.detail["style"]) for r in results if r.detail.get("style")}):
            value = mean([r for r in results if r.detail.get("style") == style], "recall_at_k")
            if value is not None:
                out[f"recall_at_k_{style}"] = round(value, 4)
        for metric in ("ttft_s", "latency_s"):
            values = [r.metrics[metric] for r in results if metric in r.metrics]
            for q in (50, 95):
                value = percentile(values, q)
                if value is not None:
                    out[f"{metric.removesuffix('_s')}_p{q}_s"] = round(value, 4)
        return out

    def _chat(self, resources: Resources) -> tuple[ChatService, InMemorySaver]:
        """The chat service the cases run on: the real graph, each case's session in memory only until the case
        is scored (the run log keeps what it did), so a long-lived process (the Evals tab) does not grow."""
        if self._service is None or self._service[0].resources is not resources:
            saver = InMemorySaver()
            self._service = (ChatService(resources, LocalRuntime(saver, resources=resources)), saver)
        return self._service


async def _ensure_corpus(resources: Resources, collection: str) -> int:
    """Index the corpus into ``collection`` when it is missing or empty; returns its number of points.

    The default collection gets what the server indexes on first start (the configured corpus folder, else
    ``datasets/corpus``); another collection gets ``datasets/corpus``, which the QA set is about.
    """
    store = resources.store

    async def points() -> int | None:
        exists = collection in await asyncio.to_thread(store.collections)
        return await asyncio.to_thread(store.count, collection) if exists else None

    if collection == resources.settings.collection:
        await index_corpus_if_empty(resources.store, resources.settings)
    elif not await points():
        from workbench.ingest.pipeline import ingest_paths

        await asyncio.to_thread(ingest_paths, store, [SAMPLE_CORPUS], collection)
    count = await points()
    if count is None:
        raise ConfigurationError(f"collection {collection!r} does not exist and there is no corpus to index into it")
    return count


async def _judge(
    resources: Resources, spec: str, question: str, reference: str, answer: str
) -> tuple[float, str] | str:
    """The judge's ``(score, reason)``, or why there is none."""
    model = (await asyncio.to_thread(resources.models.choose, spec)).model
    try:
        reply = await model.ainvoke([HumanMessage(metrics.render_judge(question, reference, answer))])
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"[:300]
    verdict = metrics.parse_judge(str(reply.content))
    return verdict if verdict is not None else f"unreadable reply: {str(reply.content)[:200]}"


suite = ChatRagSuite()

"""The events a turn or an audit task sends, as typed objects from the service that makes them to the socket's JSON.

The chat and voice services yield these objects, the UI tabs read them, the sockets send them with :func:`wire`, and
the JSON Schemas in ``protocols/`` are written from the same classes, so a field cannot exist in one and not the
other. Class names say what each is (``TokenEvent``); the schemas keep the names clients know (``Token``) as titles.
The error events are made by the sockets (a turn's failure, a bad message); the protocol modules narrow their
``code`` to the codes each protocol documents.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, TypeAdapter, model_serializer
from pydantic.json_schema import SkipJsonSchema

from workbench.documents import RetrievedDoc

Severity = Literal["critical", "high", "medium", "low", "info"]
AgentName = Literal["explorer", "bug_hunter", "security"]
AgentStatus = Literal["pending", "running", "ok", "partial", "error", "timeout", "skipped"]
"""partial: the agent finished, but its tools left files unanalyzed (``AgentResult.tools[...]["not_analyzed"]``)."""
Step = Literal["clone", "select", "agents", "aggregate"]
Status = Literal["ok", "aborted", "error"]


def _require_tag(schema: dict[str, Any]) -> None:
    """Events carry their tag always: make ``type`` (and a token's ``role``) required in the schema, though the
    models give them defaults, so an object without a tag matches no message."""
    required = schema.setdefault("required", [])
    for tag in ("role", "type"):
        if tag in schema.get("properties", {}) and tag not in required:
            required.insert(0, tag)


class Event(BaseModel):
    """Base of every event the server sends."""

    model_config = ConfigDict(json_schema_extra=_require_tag, defer_build=True)
    """Each class builds its validator on first use, so a process pays only for the events it sends."""


def wire(event: Event) -> dict[str, Any]:
    """``event`` as its socket sends it: the one serializer of every protocol."""
    return event.model_dump(mode="json")


# -- turns (chat, agents, voice) ----------------------------------------------------------------------------------


class TokenEvent(Event):
    """A streamed piece of the answer."""

    model_config = ConfigDict(title="Token")
    role: Literal["assistant"] = "assistant"
    content: str


class PublicDocument(BaseModel):
    """A retrieved passage as the protocols send it."""

    model_config = ConfigDict(title="Document")
    source: str
    chunk_id: str
    score: float
    dense_score: float | None
    sparse_score: float | None
    title: str
    section: str | None
    page: int | None
    text: str

    @classmethod
    def of(cls, doc: RetrievedDoc) -> PublicDocument:
        """``doc`` without what stays on the server (an index made before sources were relative holds absolute
        paths: those go out as the file name alone)."""
        source = PurePosixPath(doc["source"]).name if doc["source"].startswith("/") else doc["source"]
        fields = ("chunk_id", "score", "dense_score", "sparse_score", "title", "section", "page", "text")
        return cls(source=source, **{name: doc[name] for name in fields})  # type: ignore[literal-required]


class RetrievalEvent(Event):
    """The passages the turn's answer draws on."""

    model_config = ConfigDict(title="Retrieval")
    type: Literal["retrieval"] = "retrieval"
    run_id: str
    query: str | None = None
    documents: list[PublicDocument]


class TranscriptionEvent(Event):
    """What the user said, once speech to text has run."""

    model_config = ConfigDict(title="Transcription")
    type: Literal["transcription"] = "transcription"
    text: str
    language: str | None = None
    duration_s: float | None = Field(default=None, description="Length of the recording.")
    model: str | None = None


class PartialTranscriptionEvent(Event):
    """What the user has said so far in a streamed turn, while they speak (the final ``transcription`` follows)."""

    model_config = ConfigDict(title="PartialTranscription")
    type: Literal["transcription"] = "transcription"
    partial: Literal[True] = True
    text: str
    audio_s: float = Field(description="Seconds of the turn's audio the text covers.")
    until_s: float = Field(description="Where that audio ends, in seconds of the stream's audio.")


class SpeechStartedEvent(Event):
    """Voice activity began on the microphone stream: a turn has started (and a running reply is interrupted)."""

    model_config = ConfigDict(title="SpeechStarted")
    type: Literal["speech_started"] = "speech_started"
    at_s: float = Field(description="Where the speech starts, in seconds of the stream's audio.")


class SpeechStoppedEvent(Event):
    """The speaker's turn is over (trailing silence): its final transcription and the reply follow."""

    model_config = ConfigDict(title="SpeechStopped")
    type: Literal["speech_stopped"] = "speech_stopped"
    at_s: float = Field(description="Where the speech ended, in seconds of the stream's audio.")


class InterruptedEvent(Event):
    """The user spoke over the reply: its generation and speech stopped (a ``done`` with status interrupted
    follows); a client stops playing the reply."""

    model_config = ConfigDict(title="Interrupted")
    type: Literal["interrupted"] = "interrupted"
    run_id: str | None = None


class InterruptedDoneEvent(Event):
    """The end of a turn the user interrupted by speaking: the session keeps the part of the reply that was spoken."""

    model_config = ConfigDict(title="InterruptedDone")
    type: Literal["done"] = "done"
    run_id: str | None = None
    status: Literal["interrupted"]
    spoken: str = Field(default="", description="The sentences of the reply whose audio had been sent.")


class ResponseEvent(Event):
    """The whole reply text, once written."""

    model_config = ConfigDict(title="Response")
    type: Literal["response"] = "response"
    text: str


class NoticeEvent(Event):
    """A fallback the turn took, e.g. the cloud voice was unreachable and the offline voice spoke."""

    model_config = ConfigDict(title="Notice")
    type: Literal["notice"] = "notice"
    code: Literal["tts_fallback", "stt_fallback"]
    message: str


class AudioChunkEvent(Event):
    """One sentence of the reply's audio, sent as soon as it is synthesized (only with ``stream_audio``)."""

    model_config = ConfigDict(title="AudioChunk")
    type: Literal["audio_chunk"] = "audio_chunk"
    index: int
    format: Literal["wav", "mp3"]
    text: str
    data: str


class AudioEvent(Event):
    """The whole reply as one clip."""

    model_config = ConfigDict(title="Audio")
    type: Literal["audio"] = "audio"
    format: Literal["wav", "mp3"]
    data: str


class DoneEvent(Event):
    """The end of a turn; alone (with no more than these fields) for a turn that failed or was aborted."""

    model_config = ConfigDict(title="Done")
    type: Literal["done"] = "done"
    run_id: str | None = None
    status: Status = "ok"


class ChatDoneEvent(DoneEvent):
    """The end of a chat or agent turn that answered."""

    model: str | None = None
    citations: list[int] = Field(default_factory=list, description="1-based indexes into the retrieval's documents.")
    citation_mode: Literal["explicit", "attributed"] | None = Field(
        default=None, description="explicit: the model wrote [n]; attributed: matched from the answer's sentences."
    )
    answer: SkipJsonSchema[str] = Field(default="", exclude=True)
    """The whole answer, for in-process callers (the UI, evals): a socket's client has it from the tokens."""


class VoiceDoneEvent(DoneEvent):
    """The end of a voice turn that answered."""

    session_id: str | None = None
    transcript: str | None = None
    reply: str | None = None
    timings: dict[str, float] = Field(
        default_factory=dict,
        description="Seconds: audio_s, stt_s, transcript_s (a streamed turn: its last speech to its final "
        "transcript), llm_ahead_s (the reply begun at the user's pause, before the turn ended), llm_ttft_s, llm_s, "
        "tts_s, speech_s, first_audio_s, total_s.",
    )
    models: dict[str, str] = Field(default_factory=dict, description="Engines used: stt, llm, tts, persona.")
    notes: list[str] = Field(default_factory=list)


class PendingQuestion(BaseModel):
    """A question a turn stopped on (LangGraph ``interrupt``): its id, what it asks, and the subgraph it is in."""

    model_config = ConfigDict(title="PendingInterrupt")
    id: str
    value: Any = Field(description='What the graph\'s interrupt() was given, e.g. {"question": "Approve?"}.')
    namespace: str = Field(default="", description="The subgraph it was raised in; empty for the graph itself.")


class InterruptEvent(Event):
    """The turn stopped on a question for a human: the session waits until the client sends ``resume`` (or
    ``abort``); the turn then goes on and ends with ``done``."""

    model_config = ConfigDict(title="Interrupt")
    type: Literal["interrupt"] = "interrupt"
    run_id: str | None = None
    session_id: str
    interrupts: list[PendingQuestion]


class AbortedEvent(Event):
    """The client's abort stopped the turn (``done`` follows)."""

    model_config = ConfigDict(title="Aborted")
    type: Literal["aborted"] = "aborted"
    run_id: str | None = None


class ErrorEvent(Event):
    """A protocol error: a message the socket could not take, or a turn that failed (``code`` says which)."""

    model_config = ConfigDict(title="Error")
    type: Literal["error"] = "error"
    code: str
    message: str


class TurnErrorEvent(ErrorEvent):
    """An error on a turn socket: ``run_id`` names the failed run (``null`` for a refused message)."""

    run_id: str | None = None


TurnEvent = (
    TokenEvent
    | RetrievalEvent
    | TranscriptionEvent
    | ResponseEvent
    | NoticeEvent
    | AudioChunkEvent
    | AudioEvent
    | InterruptEvent
    | DoneEvent
)
"""What the chat and voice services yield (the turn's last one is a :class:`DoneEvent`, or an
:class:`InterruptEvent` when it stopped on a question)."""


# -- audit tasks ----------------------------------------------------------------------------------------------------


class _TaskEvent(Event):
    task_id: str
    seq: int = Field(ge=0)
    timestamp: str

    @model_serializer(mode="wrap")
    def _sent(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """``type`` first, and an optional field only where the event set it (``agent`` on an agent's events)."""
        data = handler(self)
        kept = {k: v for k, v in data.items() if k in self.model_fields_set or type(self).model_fields[k].is_required()}
        return {"type": data["type"], **kept}


class TaskStarted(_TaskEvent):
    type: Literal["task.started"] = "task.started"
    repo: str
    ref: str | None = None
    agents: list[str]


class TaskProgress(_TaskEvent):
    type: Literal["task.progress"] = "task.progress"
    step: Step
    agent: AgentName | None = None
    message: str
    percent: float = Field(ge=0, le=100, description="The task's overall progress.")
    plan: list[AgentName] | None = Field(default=None, description="With step 'select': the agents that run.")


class TaskAgentResult(_TaskEvent):
    type: Literal["task.agent_result"] = "task.agent_result"
    agent: AgentName
    status: AgentStatus
    counts: dict[Severity, int]
    findings: int
    summary: str
    duration_s: float


class TaskCompleted(_TaskEvent):
    type: Literal["task.completed"] = "task.completed"
    status: Literal["completed", "partial"]
    counts: dict[Severity, int]
    summary: str


class TaskError(_TaskEvent):
    type: Literal["task.error"] = "task.error"
    level: Literal["agent", "task"]
    agent: AgentName | None = None
    status: AgentStatus | None = None
    code: str | None = None
    message: str | None


TaskEvent = TaskStarted | TaskProgress | TaskAgentResult | TaskCompleted | TaskError
TASK_EVENTS: TypeAdapter[TaskEvent] = TypeAdapter(Annotated[TaskEvent, Field(discriminator="type")])
"""Reads a task's event as the task manager records it."""

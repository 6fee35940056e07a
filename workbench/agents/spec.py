"""The declarative agent spec: a short YAML or JSON file describing an agent graph (nodes, edges, state).

A spec names its nodes and how they connect; what each node does comes from a small set of kinds that cover the
built-in graphs: ``llm`` (a model by logical id, a prompt by ``name@version``, tools bound), ``retriever`` (a
collection searched with the message's metadata as filters), ``tool`` (one tool of the registry), ``router``
(conditions over the state, in the safe language of :mod:`workbench.agents.conditions`), ``subgraph`` (another
spec or a built-in graph) and ``interrupt`` (a human approval). Edges are plain (``from`` → ``to``) or
conditional (a router's named routes mapped to nodes, every route explicit). ``START`` and ``END`` are the graph's
entry and finish.

The models here check one spec's shape (kinds, fields, types); :mod:`workbench.agents.validate` checks the graph
and the references, and reports every problem with its file and line.
"""

from __future__ import annotations

import copy
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, model_validator

START = "START"
END = "END"
NAME = r"^[a-z][a-z0-9_]{0,63}$"
"""Node, state field, route and agent names: lower snake case (they become graph node and state keys)."""
BUILT_IN_GRAPHS = frozenset({"chat", "voice", "repo_audit"})
"""Names a spec may not take: the built-in graphs are served under them."""
StateType = Literal["str", "int", "float", "bool", "list", "dict", "documents"]
ZERO: dict[str, Any] = {"str": "", "int": 0, "float": 0.0, "bool": False, "list": [], "dict": {}, "documents": []}
"""What a state field without a ``default`` starts as: its type's zero value (never None)."""
KEPT_FIELDS: dict[str, str] = {
    "messages": "the conversation",
    "metadata": "the turn's retrieval filters",
    "model": "the model that served the turn",
    "turn": "the turn the fields belong to",
}
"""State keys every agent's graph keeps beside the spec's fields (a spec may not declare them)."""
PROMPT_VALUES: dict[str, str] = {
    "context": "the passages of the node's `context` field",
    "question": "the user's last message",
    "conversation": "the user's earlier questions",
}
"""What an ``llm`` node renders into every prompt beside the spec's `str` fields (no `str` field takes these
names: ``{question}`` has one meaning in every prompt of the registry)."""
SearchMode = Literal["hybrid", "dense", "sparse"]


VERSION = r"^[0-9]+(\.[0-9]+){0,2}$"
Version = Annotated[
    str,
    BeforeValidator(lambda v: str(v) if isinstance(v, int | float) and not isinstance(v, bool) else v),
    Field(pattern=VERSION, description="The spec's version, e.g. 1 or 1.2.0 (YAML may write 1 as a number)."),
    WithJsonSchema({"anyOf": [{"type": "string", "pattern": VERSION}, {"type": "number", "minimum": 0}]}),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class StateField(_Strict):
    """One state field beyond ``messages`` (which every spec has: the conversation, appended to)."""

    type: StateType
    default: Any = None
    description: str = ""
    persist: bool = Field(
        default=False, description="Keep the value across the turns of a session (else each turn starts at default)."
    )

    @model_validator(mode="after")
    def _zero_default(self) -> Self:
        """A field given no default starts as its type's zero value ("" for `str`), so no node or tool sees None."""
        if "default" not in self.model_fields_set:
            self.default = copy.deepcopy(ZERO[self.type])
        return self


class _Node(_Strict):
    description: str = ""
    increment: list[str] = Field(default_factory=list, description="`int` state fields to add 1 to after the node.")


class LlmNode(_Node):
    """Calls a model with a versioned prompt and the conversation; appends its answer to ``messages``."""

    kind: Literal["llm"]
    model: str = Field(description="A logical model id of the model registry (fast, smart, ...).")
    prompt: str = Field(description="A prompt of the prompt registry, as name@version (rag-answer@v1).")
    tools: list[str] = Field(default_factory=list, description="Tools of the tool registry the model may call.")
    context: str | None = Field(default=None, description="A `documents` state field rendered into the prompt.")
    output: str | None = Field(default=None, description="A `str` state field that also receives the answer.")
    append_messages: bool = Field(default=True, description="Append the answer to `messages` (false: output only).")


class RetrieverNode(_Node):
    """Searches a collection for the last human message; writes the hits to a `documents` state field."""

    kind: Literal["retriever"]
    collection: str | None = Field(default=None, description="Qdrant collection; default: the settings'.")
    top_k: int = Field(default=4, ge=1, le=50)
    search: SearchMode = "hybrid"
    filters_from_metadata: bool = Field(default=True, description="Filter by the turn's `metadata` payload.")
    output: str = Field(default="documents", description="The `documents` state field that receives the hits.")
    query: str | None = Field(default=None, description="A `str` field to search with when set (else the question).")
    relevance: str | None = Field(default=None, description="A `float` field that receives the best dense score.")


class ToolNode(_Node):
    """Runs one tool of the registry on arguments taken from state fields; writes its result to a field."""

    kind: Literal["tool"]
    tool: str
    arguments: dict[str, str] = Field(default_factory=dict, description="Tool argument -> state field.")
    output: str


class RouterNode(_Node):
    """Picks the next node: the first route whose condition holds, else ``default``."""

    kind: Literal["router"]
    routes: dict[str, str] = Field(description="Route name -> condition (see workbench.agents.conditions).")
    default: str = Field(description="The route taken when no condition holds.")


class SubgraphNode(_Node):
    """Runs another agent spec (``agent: name``) or a built-in graph (``graph: chat``) on the same messages."""

    kind: Literal["subgraph"]
    agent: str | None = None
    graph: Literal["chat", "voice"] | None = None


class InterruptNode(_Node):
    """Stops for a human decision (LangGraph `interrupt`); the answer is written to a `str` state field."""

    kind: Literal["interrupt"]
    question: str
    output: str


Node = Annotated[
    LlmNode | RetrieverNode | ToolNode | RouterNode | SubgraphNode | InterruptNode, Field(discriminator="kind")
]


class Edge(_Strict):
    """From one node (or START) to another (or END)."""

    source: str = Field(alias="from")
    target: str = Field(alias="to")


class ConditionalEdge(_Strict):
    """From a router: each of its routes (and its default) mapped to a node, explicitly."""

    source: str = Field(alias="from")
    map: dict[str, str] = Field(description="Route name -> node name (or END).")


class AgentSpec(_Strict):
    """One agent: its name and version, its state, its nodes and how they connect."""

    name: str = Field(pattern=NAME)
    version: Version
    description: str = ""
    state: dict[str, StateField] = Field(default_factory=dict, description="State fields beyond `messages`.")
    nodes: dict[str, Node]
    edges: list[Edge] = Field(default_factory=list)
    conditional_edges: list[ConditionalEdge] = Field(default_factory=list)


def json_schema() -> dict[str, Any]:
    """The spec as a JSON Schema document (``protocols/agent-spec.schema.json``), for editors to validate with."""
    schema = AgentSpec.model_json_schema(ref_template="#/$defs/{model}")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://agent-workbench.dev/protocols/agent-spec.schema.json",
        **schema,
        "title": "Agent Workbench agent spec",
    }

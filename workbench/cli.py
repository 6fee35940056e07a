"""The ``workbench`` command."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from graphs.repo_audit_state import AuditInput
    from workbench.audit.models import AuditReport

app = typer.Typer(help="Agent Workbench: RAG chat, voice, repository audits, run log and evals.", no_args_is_help=True)

QUIET_OFFLINE = {
    "GRADIO_ANALYTICS_ENABLED": "False",
    "LANGGRAPH_CLI_NO_ANALYTICS": "1",
    "LANGGRAPH_NO_VERSION_CHECK": "1",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "HF_HUB_OFFLINE": "1",
}


@app.callback()
def _quiet() -> None:
    for key, value in QUIET_OFFLINE.items():
        os.environ.setdefault(key, value)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Serve the UI at / and the protocols (/ws/chat, /ws/assistant, /ws/tasks, /api/tasks, /health).

    On loopback the API token is optional; any other address needs WORKBENCH_API_TOKEN.
    """
    import uvicorn

    from workbench.server import create_app
    from workbench.server.security import MIN_TOKEN_LENGTH, is_loopback
    from workbench.server.ws_assistant import text_frame_limit
    from workbench.settings import get_settings

    settings = get_settings()
    token = settings.api_token.get_secret_value() if settings.api_token else ""
    if not is_loopback(host) and len(token) < MIN_TOKEN_LENGTH:
        problem = "every client must log in" if not token else f"the API token needs {MIN_TOKEN_LENGTH}+ characters"
        typer.echo(
            f"Refusing to serve on {host}: beyond loopback {problem}. Set a token first, e.g.\n"
            "  export WORKBENCH_API_TOKEN=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')\n"
            "and list the names clients use for this machine in WORKBENCH_ALLOWED_HOSTS.",
            err=True,
        )
        raise typer.Exit(2)
    from workbench.runtime.storage import home_problem

    if (unusable := home_problem(settings.home)) is not None:
        raise _fail(f"{unusable} ({settings.home.resolve()})", 2)
    typer.echo(f"Agent Workbench on http://{host}:{port}/ (data in {settings.home.resolve()})")
    if settings.api_token is not None:
        typer.echo("The API token is required: log in at /login, or send it as 'Authorization: Bearer <token>'.")
    uvicorn.run(
        create_app(settings, bind_host=host),
        host=host,
        port=port,
        ws_max_size=max(4 * settings.max_message_bytes, text_frame_limit(settings.max_audio_bytes) + (1 << 16)),
        log_level="info",
    )


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (md, txt, pdf).", exists=True)],
    collection: Annotated[str | None, typer.Option(help="Collection (default: WORKBENCH_COLLECTION).")] = None,
) -> None:
    """Chunk, embed and index files; unchanged files are skipped, changed ones replaced."""
    from workbench.ingest.pipeline import ingest_paths
    from workbench.resources import get_resources

    resources = get_resources()
    name = collection or resources.settings.collection
    with typer.progressbar(length=1, label=f"Indexing into {name!r}") as bar:

        def progress(update: object) -> None:
            total = getattr(update, "total_files", 1) or 1
            bar.length = total
            bar.update(1)

        report = ingest_paths(resources.store, paths, name, progress=progress)
    typer.echo(report.summary())
    for source, problem in report.failures.items():
        typer.echo(f"failed: {source}: {problem}", err=True)
    resources.close()
    if report.failed:
        raise typer.Exit(1)


async def _ask(
    question: str, session_id: str, model: str | None, collection: str | None, agent: str | None = None
) -> None:
    from workbench.chat.service import TurnRequest
    from workbench.resources import get_resources
    from workbench.services import open_chat

    resources = get_resources()
    async with open_chat(resources) as service:
        request = TurnRequest(question, session_id, model=model, collection=collection, entry_point="cli", agent=agent)
        documents = []
        async for event in service.stream(request):
            if event["type"] == "retrieval":
                documents = event["documents"]
            elif event["type"] == "token":
                typer.echo(event["content"], nl=False)
            elif event["type"] == "done":
                typer.echo("")
                for number in event["citations"]:
                    doc = documents[number - 1]
                    typer.echo(f"[{number}] {doc['source']}" + (f" — {doc['section']}" if doc["section"] else ""))
                typer.echo(f"(model: {event['model']}, run: {event['run_id']}, session: {session_id})", err=True)
    resources.close()


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question.")],
    session: Annotated[str | None, typer.Option(help="Session id, to continue a conversation.")] = None,
    model: Annotated[str | None, typer.Option(help='"provider/model" (default: WORKBENCH_LLM).')] = None,
    collection: Annotated[str | None, typer.Option(help="Collection to search.")] = None,
) -> None:
    """One chat turn in the terminal, streamed, with its citations."""
    asyncio.run(_ask(question, session or uuid.uuid4().hex[:12], model, collection))


@app.command()
def runs(
    limit: Annotated[int, typer.Option(help="How many runs.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
    graph: Annotated[str | None, typer.Option(help="Only this graph.")] = None,
    status: Annotated[
        str | None, typer.Option(help="running, ok, error, aborted, or interrupted (cut off by a crash or kill).")
    ] = None,
) -> None:
    """Recent runs from the DuckDB run log (what a stopped process left running is marked interrupted first; a
    home this command may not write is read as it is, read-only)."""
    from workbench.errors import StorageUnavailable
    from workbench.runlog import RUN_STATUSES, get_runlog, recent_runs
    from workbench.runlog.schema import writable
    from workbench.settings import get_settings

    if status is not None and status not in RUN_STATUSES:
        raise _fail(f"unknown status {status[:40]!r}; choose one of {', '.join(RUN_STATUSES)}", 2)

    path = get_settings().runlog_path
    try:
        try:
            if not writable(path.parent):
                raise StorageUnavailable("the home folder is read-only")
            recent_runs(path, 1, read_only=True)  # a damaged log is reported before a writer is started on it
            rows = get_runlog().recent_runs(limit=limit, graph=graph, status=status)
        except StorageUnavailable:  # read what is there, as it is
            rows = recent_runs(path, limit, graph=graph, status=status, read_only=True)
    except StorageUnavailable as exc:
        raise _fail(str(exc), 1) from None
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row, default=str))
        return
    for row in rows:
        started = row["started_at"]
        took = (row["ended_at"] - started).total_seconds() if row["ended_at"] and started else float("nan")
        text = (row["input"] or "").replace("\n", " ")[:60]
        when = f"{started:%Y-%m-%d %H:%M:%S}" if started else "-"
        typer.echo(
            f"{when:<19}  {row['run_id'][:8]}  {row['graph']:<10} {row['entry_point']:<9}"
            f" {row['status']:<11} {took:6.2f}s  {row['model'] or '-':<22} {text}"
        )


def _fail(message: str, code: int) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


@app.command()
def transcribe(
    file: Annotated[Path, typer.Argument(help="Audio file: wav, mp3, webm, ogg or flac.", dir_okay=False)],
    model: Annotated[
        str | None, typer.Option(help='Speech-to-text spec, e.g. "local/tiny.en" (default: WORKBENCH_STT_MODEL).')
    ] = None,
    language: Annotated[
        str | None, typer.Option(help='Spoken language, "auto" to detect (default: WORKBENCH_STT_LANGUAGE).')
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print text, timings and segments as JSON.")] = False,
) -> None:
    """Transcribe a recording with the configured limits (exit 2 for unusable audio)."""
    from workbench.errors import WorkbenchError
    from workbench.settings import get_settings
    from workbench.voice.audio import AudioError, decode_audio
    from workbench.voice.stt import build_stt

    settings = get_settings()
    if language is not None:
        settings = settings.model_copy(update={"stt_language": None if language in ("", "auto") else language})
    try:
        with file.open("rb") as source:
            data = source.read(settings.max_audio_bytes + 1)  # one byte over the limit is enough to refuse it
    except OSError as exc:
        raise _fail(f"cannot read {file}: {exc.strerror or exc}", 2) from None
    try:
        audio = decode_audio(data, None, max_bytes=settings.max_audio_bytes, max_seconds=settings.max_audio_s)
        result = build_stt(model or settings.stt_model, settings).transcribe(audio)
    except AudioError as exc:
        raise _fail(f"{file}: {exc}", 2) from None
    except WorkbenchError as exc:
        raise _fail(str(exc), 1) from None
    if result.note:
        typer.echo(f"note: {result.note}", err=True)
    if as_json:
        figures = {
            "text": result.text,
            "language": result.language,
            "duration_s": round(result.duration_s, 3),
            "elapsed_s": round(result.elapsed_s, 3),
            "rtf": round(result.real_time_factor, 4),
            "model": result.model,
            "segments": result.segments,
            "note": result.note,
        }
        typer.echo(json.dumps(figures, ensure_ascii=False))
        return
    typer.echo(result.text)
    typer.echo(
        f"({result.model}: {result.duration_s:.1f} s of audio in {result.elapsed_s:.2f} s,"
        f" RTF {result.real_time_factor:.3f})",
        err=True,
    )
    if not result.text:
        typer.echo(f"no speech was recognised in {result.duration_s:.1f} s of audio", err=True)


@app.command()
def say(
    text: Annotated[str, typer.Argument(help="What to say.")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Audio file to write: WAV, or MP3 when named .mp3 and the voice is.")
    ],
    voice: Annotated[
        str | None,
        typer.Option(help='"piper/joe-us", "piper/<path.onnx>" or "gtts/<lang>" (default: WORKBENCH_TTS_VOICE).'),
    ] = None,
) -> None:
    """Synthesize speech to a file; prints the timings (and any fallback) on stderr.

    A name ending in .mp3 gets the voice's MP3 as is (gTTS); any other name gets WAV (an MP3 voice is decoded
    to 16 kHz WAV). A WAV voice asked for an .mp3 file writes WAV beside it, with the .wav suffix.
    """
    from workbench.errors import WorkbenchError
    from workbench.settings import get_settings
    from workbench.voice.audio import SAMPLE_RATE, AudioError, decode_audio, wav_bytes
    from workbench.voice.tts import build_tts, synthesize

    if not text.strip():
        raise _fail("nothing to say: the text is empty", 2)
    settings = get_settings()
    try:
        speech = synthesize(build_tts(voice or settings.tts_voice, settings), text)
        audio = speech.audio
        if speech.format == "mp3" and output.suffix.lower() != ".mp3":
            decoded = decode_audio(audio, "mp3", max_bytes=len(audio) + 1, max_seconds=24 * 3600)
            audio = wav_bytes(decoded.samples, SAMPLE_RATE)
    except AudioError as exc:
        raise _fail(f"the synthesized audio could not be converted to WAV: {exc}", 1) from None
    except WorkbenchError as exc:
        raise _fail(str(exc), 1) from None
    if speech.note:
        typer.echo(f"note: {speech.note}", err=True)
    if speech.format == "wav" and output.suffix.lower() == ".mp3":
        output = output.with_suffix(".wav")
        typer.echo(f"warning: {speech.voice} speaks WAV, not MP3; writing {output}", err=True)
    try:
        output.write_bytes(audio)
    except OSError as exc:
        raise _fail(f"cannot write {output}: {exc.strerror or exc}", 1) from None
    typer.echo(str(output))
    typer.echo(
        f"({speech.voice}: {speech.duration_s:.2f} s of speech in {speech.elapsed_s:.2f} s,"
        f" RTF {speech.real_time_factor:.3f})",
        err=True,
    )


async def _audit(request: AuditInput, model: str | None, progress: bool) -> AuditReport:
    from graphs.repo_audit_state import AuditContext
    from workbench.audit.runner import run_audit
    from workbench.runlog import RunLogCallback, get_runlog

    def show(event: dict) -> None:
        if not progress:
            return
        kind = event["type"].removeprefix("task.")
        who = f"[{event['agent']}] " if event.get("agent") else ""
        text = event.get("message") or event.get("summary") or event.get("status") or event.get("repo") or ""
        if kind == "agent_result":
            text = f"{event['status']}: {event['summary']}"
        elif kind == "completed":
            text = f"{event['status']}: " + ", ".join(f"{n} {s}" for s, n in event["counts"].items() if n)
        typer.echo(f"{kind:<12} {who}{str(text).splitlines()[0] if text else ''}", err=True)

    callback = RunLogCallback(get_runlog())
    try:
        return await run_audit(
            request, show, context=AuditContext(model=model), callback=callback, entry_point="cli",
            record_in=get_runlog(),
        )  # fmt: skip
    finally:
        await get_runlog().aflush()


@app.command()
def audit(
    target: Annotated[str, typer.Argument(help="An https:// URL on an allowed host, or a local folder.")],
    output_format: Annotated[str, typer.Option("--format", help="json, sarif or md.")] = "md",
    ref: Annotated[str | None, typer.Option(help="Branch or tag to audit.")] = None,
    agents: Annotated[
        str | None, typer.Option(help="Comma-separated: explorer, bug_hunter, security (default: all).")
    ] = None,
    model: Annotated[
        str | None, typer.Option(help='Triage model, "provider/model"; "none" skips the LLM (default: WORKBENCH_LLM).')
    ] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the report here, not stdout.")] = None,
    fail_on: Annotated[
        str | None, typer.Option(help="Exit 3 when a finding is at least this severe (critical, high, medium, low).")
    ] = None,
    quiet: Annotated[bool, typer.Option(help="No progress on stderr.")] = False,
) -> None:
    """Audit a repository without the server: progress on stderr, the report on stdout (or --output).

    A local folder given here is allowed even outside WORKBENCH_AUDIT_ALLOWED_ROOTS (you named it yourself); the
    other safety rules are the server's. Exit codes: 0 done, 1 the audit failed, 2 the target or an option was
    refused, 3 --fail-on matched.
    """
    from workbench.audit.models import AGENTS, SEVERITY_RANK
    from workbench.audit.report import to_json, to_markdown, to_sarif
    from workbench.errors import WorkbenchError
    from workbench.resources import Resources, set_resources
    from workbench.settings import get_settings

    if output_format not in ("json", "sarif", "md"):
        raise _fail(f"--format must be json, sarif or md, not {output_format!r}", 2)
    if fail_on is not None and fail_on not in SEVERITY_RANK:
        raise _fail(f"--fail-on must be one of {', '.join(SEVERITY_RANK)}", 2)
    chosen = [a.strip() for a in agents.split(",") if a.strip()] if agents else None
    unknown = sorted(set(chosen or []) - set(AGENTS))
    if unknown:
        raise _fail(f"unknown agents {unknown}; choose from {', '.join(AGENTS)}", 2)
    settings = get_settings()
    local = Path(target).expanduser()
    if not target.startswith("-") and "://" not in target and "::" not in target and local.is_dir():
        roots = [*settings.audit_allowed_roots, local.resolve()]
        settings = settings.model_copy(update={"audit_allowed_roots": roots})
    set_resources(Resources(settings))
    request: AuditInput = {"repo": target, "ref": ref, "agents": chosen}
    try:
        report = asyncio.run(_audit(request, model, progress=not quiet))
    except WorkbenchError as exc:
        code = getattr(exc, "code", "")
        refused = code in {
            "invalid_target", "unsupported_scheme", "option_injection", "credentials_in_url",
            "host_not_allowed", "path_not_allowed", "not_found", "invalid_ref",
        }  # fmt: skip
        raise _fail(str(exc), 2 if refused else 1) from None
    if output_format == "md":
        text = to_markdown(report)
    else:
        text = json.dumps(to_sarif(report) if output_format == "sarif" else to_json(report), indent=2)
    if output is not None:
        output.write_text(text + "\n")
        typer.echo(str(output), err=True)
    else:
        typer.echo(text)
    if fail_on is not None and any(SEVERITY_RANK[f.severity] >= SEVERITY_RANK[fail_on] for f in report.findings):
        raise typer.Exit(3)


def _print_runs(runs: list, as_json: bool) -> None:
    if as_json:
        for run in runs:
            typer.echo(json.dumps({
                "suite": run.suite, "variant": run.variant.name, "mlflow_run_id": run.mlflow_run_id,
                "params": run.params, "metrics": run.metrics,
                "cases": [r.row() for r in run.results],
            }, default=str))  # fmt: skip
        return
    for run in runs:
        typer.echo(f"\n{run.suite} [{run.variant.name}]  mlflow run {run.mlflow_run_id}  ({run.duration_s:.1f} s)")
        for name, value in sorted(run.metrics.items()):
            typer.echo(f"  {name:<28} {value:.4f}" if isinstance(value, float) else f"  {name:<28} {value}")


def _print_comparison(comparison: object) -> None:
    from workbench.evals.compare import Comparison

    assert isinstance(comparison, Comparison)
    typer.echo(f"\ncompare {comparison.run_a[:8]} (a) -> {comparison.run_b[:8]} (b)")
    for row in comparison.param_rows():
        typer.echo(f"  param  {row['param']:<22} {row['a']} -> {row['b']}")
    for row in comparison.metric_rows():
        if row["delta"]:
            typer.echo(f"  metric {row['metric']:<22} {row['a']:.4f} -> {row['b']:.4f} ({row['delta']:+.4f})")
    changed = comparison.changed
    typer.echo(f"  {len(changed)} of {len(comparison.cases)} cases changed outcome")
    for diff in changed:
        typer.echo(f"    {diff.case_id:<20} {diff.outcome_a} -> {diff.outcome_b} ({diff.direction})")


@app.command("eval")
def eval_suite(
    suite: Annotated[str, typer.Argument(help="chat-rag, voice or audit.")],
    model: Annotated[list[str] | None, typer.Option(help="Model(s) to compare; repeat for several.")] = None,
    prompt_version: Annotated[list[str] | None, typer.Option(help="Prompt version(s); repeat for several.")] = None,
    agent: Annotated[
        list[str] | None, typer.Option(help="chat-rag: agent spec(s) to run (`chat`: the built-in graph); repeat.")
    ] = None,
    settings_: Annotated[
        list[str] | None, typer.Option("--set", help="key=value[,value...]: suite settings (several values: variants).")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N cases.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON line per variant.")] = False,
) -> None:
    """Run an eval suite over one or more variants, each an MLflow run; with two or more, compare the first two
    case by case (the cases whose outcome changed first)."""
    from evals import load_suite
    from workbench.evals.compare import compare_runs
    from workbench.evals.runner import run_suite
    from workbench.evals.variants import VariantError, build_variants, parse_sets
    from workbench.settings import get_settings

    try:
        chosen = load_suite(suite)
    except KeyError as exc:
        raise _fail(str(exc.args[0]), 2) from None
    try:
        choices = parse_sets(settings_ or [])
        if model:
            choices["model"] = list(model)
        if prompt_version:
            choices["prompt_version"] = list(prompt_version)
        if agent:
            choices["agent"] = list(agent)
        variants = build_variants(chosen.defaults, choices)
    except VariantError as exc:
        raise _fail(str(exc), 2) from None
    settings = get_settings()

    def progress(message: str, done: int, total: int) -> None:
        if not as_json:
            typer.echo(f"[{done}/{total}] {message}", err=True)

    async def go() -> list:
        if limit is not None:  # the first N bundled cases, and every promoted one
            every = chosen.cases(settings)
            cases = [c for c in every if c.source != "promoted"][:limit] + [c for c in every if c.source == "promoted"]
            from workbench.evals.runner import run_variant

            return [await run_variant(chosen, v, settings, cases=cases, progress=progress) for v in variants]
        return await run_suite(chosen, variants, settings, progress=progress)

    from workbench.errors import WorkbenchError
    from workbench.resources import get_resources

    try:
        runs = asyncio.run(go())
    except WorkbenchError as exc:
        raise _fail(str(exc), 1) from None
    finally:
        get_resources().close()
    _print_runs(runs, as_json)
    if len(runs) >= 2 and not as_json:
        _print_comparison(compare_runs(settings, runs[0].mlflow_run_id, runs[1].mlflow_run_id))


index_app = typer.Typer(help="The vector index: move a collection between stores as a file.", no_args_is_help=True)
app.add_typer(index_app, name="index")


@index_app.command("export")
def index_export(
    file: Annotated[Path, typer.Argument(help="The file to write (JSON lines).", dir_okay=False)],
    collection: Annotated[str | None, typer.Option(help="The collection (default: WORKBENCH_COLLECTION).")] = None,
) -> None:
    """Write a collection's points (ids, dense and sparse vectors, payloads) to a file, from the configured store."""
    from workbench.providers.index_file import export_collection
    from workbench.resources import get_resources

    resources = get_resources()
    name = collection or resources.settings.collection
    store = resources.store
    try:
        if name not in store.collections():
            raise _fail(f"no collection {name[:64]!r}; collections: {', '.join(store.collections()) or 'none'}", 2)
        with file.open("w") as out:
            count = export_collection(store, name, out, store.embeddings_id, store.dim)
    finally:
        resources.close()
    typer.echo(f"exported {count} points of {name!r} to {file}")


@index_app.command("import")
def index_import(
    file: Annotated[Path, typer.Argument(help="A file written by `workbench index export`.", dir_okay=False)],
    collection: Annotated[str | None, typer.Option(help="The collection to write (default: the file's).")] = None,
) -> None:
    """Read an exported collection into the configured store (checked first: a broken file writes nothing)."""
    from workbench.errors import WorkbenchError
    from workbench.providers.index_file import import_collection
    from workbench.resources import get_resources

    if not file.is_file():
        raise _fail(f"no file {file.name!r}", 2)
    resources = get_resources()
    store = resources.store
    try:
        with file.open() as src:
            name, count = import_collection(store, src, store.embeddings_id, store.dim, collection)
    except (WorkbenchError, UnicodeDecodeError) as exc:
        raise _fail(str(exc) if isinstance(exc, WorkbenchError) else "the file is not UTF-8 text", 2) from None
    finally:
        resources.close()
    typer.echo(f"imported {count} points into {name!r}")


agents_app = typer.Typer(
    help="Declarative agent specs (agents/*.yaml): list, validate, draw, run, sync.", no_args_is_help=True
)
app.add_typer(agents_app, name="agents")
LANGGRAPH_JSON = Path(__file__).resolve().parents[1] / "langgraph.json"


@agents_app.command("list")
def agents_list() -> None:
    """The specs of the agents folder: file, name, version, whether each validates, its hash, its description."""
    from workbench.agents import catalog

    for agent in catalog.agents():
        if agent.ok:
            assert agent.spec is not None
            typer.echo(
                f"{agent.path.name}\t{agent.name}\t{agent.version}\tok\t{agent.digest}\t{agent.spec.description}"
            )
        else:
            problems = f"{len(agent.problems)} problem(s): run `workbench agents validate`"
            typer.echo(f"{agent.path.name}\t-\t-\t{problems}\t{agent.digest}")


@agents_app.command("validate")
def agents_validate(
    files: Annotated[list[Path] | None, typer.Argument(help="Spec files (default: every spec in agents/).")] = None,
) -> None:
    """Check specs; print every problem as file:line: node: message, and langgraph.json entries that are not in
    step with the agents folder. Exit 1 when anything is wrong."""
    from workbench.agents import catalog, registry

    failed = False
    for agent in [catalog.read(p, catalog.agents_dir()) for p in files] if files else catalog.agents():
        if agent.ok:
            assert agent.spec is not None
            typer.echo(f"{agent.path.name}: {agent.name} {agent.version}: ok ({len(agent.spec.nodes)} nodes)")
        failed = failed or not agent.ok
        for problem in agent.problems:
            typer.echo(str(problem), err=True)
    if not files and LANGGRAPH_JSON.is_file() and catalog.agents_dir() == registry.AGENTS_DIR:
        missing, extra = catalog.stale_entries(json.loads(LANGGRAPH_JSON.read_text()))
        for name in missing:
            typer.echo(f"langgraph.json: agent {name!r} is not served: run `workbench agents sync`", err=True)
        for name in extra:
            typer.echo(f"langgraph.json: {name!r} has no valid spec: run `workbench agents sync`", err=True)
        failed = failed or bool(missing or extra)
    if failed:
        raise typer.Exit(1)


@agents_app.command("sync")
def agents_sync() -> None:
    """Write langgraph.json's agent entries from the agents folder, so `langgraph dev` serves every valid spec."""
    from workbench.agents import catalog

    config = json.loads(LANGGRAPH_JSON.read_text())
    updated = catalog.synced(config)
    if updated == config:
        typer.echo("langgraph.json: up to date")
        return
    LANGGRAPH_JSON.write_text(json.dumps(updated, indent=2) + "\n")
    graphs = updated["graphs"]
    typer.echo(f"langgraph.json: {len(graphs) if isinstance(graphs, dict) else 0} graphs")


def _agent_or_file(target: str) -> tuple[Path, object]:
    from workbench.agents import catalog, registry

    path = registry.spec_names(catalog.agents_dir()).get(target) or Path(target)
    if not path.is_file():
        raise _fail(f"no agent or spec file {target[:80]!r}; see `workbench agents list`", 2)
    agent = catalog.read(path, catalog.agents_dir() if path.parent == catalog.agents_dir() else path.parent)
    if not agent.ok:
        problems = "\n".join(str(p) for p in agent.problems)
        raise _fail(f"{problems}\n(run `workbench agents validate {path}`)", 1)
    return path, agent.spec


@agents_app.command("draw")
def agents_draw(target: Annotated[str, typer.Argument(help="An agent's name (in agents/) or a spec file.")]) -> None:
    """Print the compiled graph of a spec as a Mermaid drawing."""
    from workbench.agents.compiler import compile_spec
    from workbench.agents.spec import AgentSpec

    path, spec = _agent_or_file(target)
    assert isinstance(spec, AgentSpec)
    typer.echo(compile_spec(spec, folder=path.parent).get_graph().draw_mermaid())


@agents_app.command("run")
def agents_run(
    name: Annotated[str, typer.Argument(help="An agent's name (see `workbench agents list`).")],
    question: Annotated[str, typer.Argument(help="The question.")],
    session: Annotated[str | None, typer.Option(help="Session id, to continue a conversation.")] = None,
    model: Annotated[
        str | None, typer.Option(help='"provider/model" for every llm node (default: the spec\'s).')
    ] = None,
) -> None:
    """One chat turn with an agent in the terminal, streamed, with its citations (logged like any chat turn)."""
    from workbench.agents import catalog
    from workbench.errors import ConfigurationError

    try:
        catalog.require(name)
    except ConfigurationError as exc:
        raise _fail(str(exc), 2) from None
    asyncio.run(_ask(question, session or uuid.uuid4().hex[:12], model, None, agent=name))


@app.command()
def mlflow(
    port: Annotated[int, typer.Option(help="Port to listen on (loopback only).")] = 5000,
) -> None:
    """Start the MLflow UI on 127.0.0.1 over the workbench's tracking store."""
    import os
    import sys

    from workbench.evals.tracking import artifact_root, tracking_uri
    from workbench.settings import get_settings

    settings = get_settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "mlflow", "ui", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        "--backend-store-uri", tracking_uri(settings), "--default-artifact-root", artifact_root(settings).as_uri(),
    ]  # fmt: skip
    typer.echo(f"MLflow UI on http://127.0.0.1:{port}/ (store: {tracking_uri(settings)})", err=True)
    os.execv(sys.executable, command)  # MLflow takes this process over: Ctrl+C and signals reach it directly


def main() -> None:
    """The ``workbench`` command: an error a user can act on (a full disk, a refused repository, a missing model)
    ends it with its message on one line and exit status 2, never a traceback."""
    from workbench.errors import WorkbenchError

    try:
        app()
    except WorkbenchError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()

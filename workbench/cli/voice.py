"""``workbench transcribe`` and ``workbench say``: the voice parts alone, on files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from workbench.cli.errors import BadArgument, Failed


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
    from workbench.settings import get_settings
    from workbench.voice.audio_files import transcribe_file

    result = transcribe_file(file, get_settings(), model=model, language=language)
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
    from workbench.settings import get_settings
    from workbench.voice.audio_files import speak

    if not text.strip():
        raise BadArgument("nothing to say: the text is empty")
    speech, path, audio = speak(text, output, get_settings(), voice=voice)
    if speech.note:
        typer.echo(f"note: {speech.note}", err=True)
    if path != output:
        typer.echo(f"warning: {speech.voice} speaks WAV, not MP3; writing {path}", err=True)
    try:
        path.write_bytes(audio)
    except OSError as exc:
        raise Failed(f"cannot write {path}: {exc.strerror or exc}") from None
    typer.echo(str(path))
    typer.echo(
        f"({speech.voice}: {speech.duration_s:.2f} s of speech in {speech.elapsed_s:.2f} s,"
        f" RTF {speech.real_time_factor:.3f})",
        err=True,
    )

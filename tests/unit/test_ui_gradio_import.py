"""Gradio imported through the UI package skips its stub regeneration, and only that."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from workbench.ui import gradio_import

PROBE = textwrap.dedent(
    """
    import json, pathlib
    reads = []
    original = pathlib.Path.read_text
    def counting(self, *args, **kwargs):
        if self.suffix in (".py", ".pyi") and "gradio" in self.parts:
            reads.append(self.name)
        return original(self, *args, **kwargs)
    pathlib.Path.read_text = counting
    {setup}
    import gradio as gr
    import gradio.component_meta as meta
    with gr.Blocks() as demo:
        box = gr.Textbox()
        gr.Button("go").click(lambda text: text, box, box)
    print(json.dumps({{"step": meta.create_or_modify_pyi.__qualname__, "source_reads": len(reads),
                      "listeners": len(demo.fns)}}))
    """
)


def _probe(setup: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(setup=setup)], capture_output=True, text=True, timeout=180, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_ui_package_imports_gradio_without_reading_its_component_sources_and_events_still_work():
    plain = _probe("")
    skipped = _probe("import workbench.ui")
    # Gradio's own import reads each component's source to rebuild its stub (the step exists in the pinned version)
    assert plain["step"] == gradio_import.STEP and plain["source_reads"] > 40
    assert skipped["step"] == "_no_stub" and skipped["source_reads"] == 0
    assert skipped["listeners"] == plain["listeners"] == 1


def test_the_skip_is_not_installed_once_gradio_is_loaded():
    import gradio  # noqa: F401  (imported by the other UI tests anyway)

    before = list(sys.meta_path)
    assert gradio_import.skip_stub_regeneration() is False
    assert sys.meta_path == before

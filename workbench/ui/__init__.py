"""The Gradio UI: one module per tab, assembled by :func:`workbench.ui.app.build_ui`.

Importing this package first keeps Gradio from regenerating its type stubs on import (see
:mod:`workbench.ui.gradio_import`): every tab module imports Gradio after it.
"""

from workbench.ui.gradio_import import skip_stub_regeneration

skip_stub_regeneration()

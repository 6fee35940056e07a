"""The Gradio UI: one module per tab, assembled by :func:`workbench.ui.app.build_ui`."""

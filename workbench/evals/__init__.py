"""Evaluation glue: MLflow tracking (experiments, runs, the prompt registry), running a suite over variants,
comparing runs case by case, and promoting logged runs to eval cases. The suites themselves live in ``evals/``."""

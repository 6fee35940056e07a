"""What the repo-audit agents use: safe targets and clones, static analyzers, findings and their reports."""

"""The static analyzers behind the repo-audit agents, each turning one tool's output into `Finding`s.

The audited repository is untrusted input, and nothing here executes code from it:
- semgrep (taint analysis, :mod:`.semgrep`), ruff, bandit, lizard and detect-secrets run as subprocesses
  (parallel across agents, killable), Python ones as `python -I -m tool` from a temporary directory outside the
  repository, so no module of the repository can be imported in place of the tool's own; they only read the files
  listed for them (:mod:`.process`, :mod:`.sources`);
- detect-secrets runs with `-n` (it would otherwise call providers' APIs to verify what it found);
- suppression comments (`# nosec`, `# noqa`, `pragma: allowlist secret`) are the repository's own claims: they are
  not honoured, the finding is kept with low confidence (:mod:`.evidence`);
- a secret never appears in full in a finding: evidence shows its first four characters and `…` (:mod:`.masking`).

The bug hunter's tools are in :mod:`.bug_tools`, the security agent's in :mod:`.security_tools`.
"""

from workbench.audit.analyzers.bug_tools import BUG_TOOLS, run_lizard, run_ruff
from workbench.audit.analyzers.process import Analyzer, NotAnalyzed, ToolRun, ToolStatus
from workbench.audit.analyzers.security_tools import SECURITY_TOOLS, run_bandit, run_patterns, run_secrets
from workbench.audit.analyzers.semgrep import SEMGREP_SUFFIXES, SEMGREP_TOOLS, run_semgrep
from workbench.audit.analyzers.sources import (
    LIZARD_SUFFIXES,
    MAX_FILE_BYTES,
    PYTHON_SUFFIXES,
    SKIP_DIRS,
    SourceFiles,
    file_kind,
    source_files,
)

__all__ = [
    "BUG_TOOLS",
    "LIZARD_SUFFIXES",
    "MAX_FILE_BYTES",
    "PYTHON_SUFFIXES",
    "SECURITY_TOOLS",
    "SKIP_DIRS",
    "Analyzer",
    "NotAnalyzed",
    "SEMGREP_SUFFIXES",
    "SEMGREP_TOOLS",
    "SourceFiles",
    "ToolRun",
    "ToolStatus",
    "file_kind",
    "run_bandit",
    "run_lizard",
    "run_patterns",
    "run_ruff",
    "run_secrets",
    "run_semgrep",
    "source_files",
]

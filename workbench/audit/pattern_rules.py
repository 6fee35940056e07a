"""The patterns analyzer's rule table: line-level regexes for what no installed analyzer covers.

Languages other than Python (bandit covers Python): JavaScript, shell scripts, Dockerfiles, Makefiles, YAML (CI
workflows) and Go. A rule fires on a line matching ``pattern`` (comment lines are skipped) in a file of
one of its ``kinds``; ``requires``, when set, must also match somewhere in the file. How the other analyzers'
rules map onto findings is in :mod:`workbench.audit.rules`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from workbench.audit.models import Confidence, Severity


@dataclass(frozen=True)
class PatternRule:
    """One line-level regex rule of the patterns analyzer."""

    id: str
    kinds: frozenset[str]
    pattern: re.Pattern[str]
    category: str
    cwe: int
    severity: Severity
    confidence: Confidence
    message: str
    requires: re.Pattern[str] | None = None


JS = frozenset({"js"})
SCRIPTS = frozenset({"shell", "dockerfile", "yaml", "make"})
PATTERN_RULES: tuple[PatternRule, ...] = (
    PatternRule(
        "js-eval",
        JS,
        re.compile(r"(?<![\w$.])eval\s*\("),
        "code-injection",
        95,
        "high",
        "medium",
        "eval() runs a string as code; with any outside input this is code injection.",
    ),
    PatternRule(
        "js-new-function",
        JS,
        re.compile(r"\bnew\s+Function\s*\("),
        "code-injection",
        95,
        "medium",
        "medium",
        "new Function() compiles a string into code, like eval().",
    ),
    PatternRule(
        "js-child-process-exec",
        JS,
        re.compile(r"\b(?:exec|execSync)\s*\(\s*(?:`[^`]*\$\{|[^,)]*\+)"),
        "command-injection",
        78,
        "high",
        "high",
        "A shell command built by concatenation or a template literal is passed to child_process.exec.",
        requires=re.compile(r"child_process"),
    ),
    PatternRule(
        "js-sql-concat",
        JS,
        re.compile(
            r"\.(?:query|execute|raw)\s*\(\s*(?:`[^`]*\b(?:SELECT|INSERT|UPDATE|DELETE)\b[^`]*\$\{"
            r"|(['\"])\s*(?:SELECT|INSERT|UPDATE|DELETE)\b[^'\"]*\1\s*\+)",
            re.IGNORECASE,
        ),
        "sql-injection",
        89,
        "high",
        "medium",
        "An SQL statement is built from strings instead of parameters.",
    ),
    PatternRule(
        "js-inner-html",
        JS,
        re.compile(
            r"\.(?:innerHTML|outerHTML)\s*\+?=(?!=)(?!\s*(['\"])[^'\"`$]*\1\s*;?\s*$)|\.insertAdjacentHTML\s*\("
        ),
        "xss",
        79,
        "medium",
        "medium",
        "HTML built from data is written into the DOM (cross-site scripting).",
    ),
    PatternRule(
        "tls-reject-unauthorized",
        JS | SCRIPTS,
        re.compile(r"rejectUnauthorized\s*:\s*false|NODE_TLS_REJECT_UNAUTHORIZED['\"]?\s*[=:]\s*['\"]?0"),
        "tls-verification-disabled",
        295,
        "high",
        "high",
        "TLS certificate verification is turned off.",
    ),
    PatternRule(
        "insecure-skip-verify",
        frozenset({"go", "yaml"}),
        re.compile(r"InsecureSkipVerify\s*:\s*true|insecure_skip_verify\s*:\s*true", re.IGNORECASE),
        "tls-verification-disabled",
        295,
        "high",
        "high",
        "TLS certificate verification is turned off.",
    ),
    PatternRule(
        "curl-insecure",
        SCRIPTS,
        re.compile(r"\bcurl\b[^\n|]*\s(?:-k|--insecure)\b|\bwget\b[^\n|]*--no-check-certificate"),
        "tls-verification-disabled",
        295,
        "medium",
        "high",
        "A download skips TLS certificate verification.",
    ),
    PatternRule(
        "curl-pipe-shell",
        SCRIPTS,
        re.compile(r"\b(?:curl|wget)\b[^\n|]*\|\s*(?:sudo(?:\s+-\S+)*\s+)?(?:/usr)?(?:/bin/)?(?:ba|z|k|da)?sh\b"),
        "download-exec",
        494,
        "high",
        "medium",
        "A downloaded script is piped straight into a shell, unverified.",
    ),
    PatternRule(
        "chmod-777",
        SCRIPTS | JS,
        re.compile(r"\bchmod\s+(?:-\w+\s+)*(?:0?777|[augo]*\+rwx)\b|chmod(?:Sync)?\s*\([^)]*,\s*0o?777\b"),
        "insecure-permissions",
        732,
        "medium",
        "high",
        "World-writable permissions (777).",
    ),
    PatternRule(
        "gha-script-injection",
        frozenset({"yaml"}),
        re.compile(
            r"\$\{\{\s*github\.event\.(?:issue|pull_request|comment|review|review_comment|discussion|head_commit)"
            r"\.[\w.]*(?:title|body|message|label|ref|name)\b"
        ),
        "command-injection",
        78,
        "high",
        "medium",
        "Attacker-controlled event text is expanded into a workflow script (pass it through env instead).",
    ),
    PatternRule(
        "shell-eval",
        frozenset({"shell"}),
        re.compile(r"(?:^|[;&|]|\bthen|\bdo|\belse)\s*eval\s+['\"]?\$"),
        "code-injection",
        95,
        "medium",
        "low",
        "eval of an expanded variable runs its content as shell code.",
    ),
)

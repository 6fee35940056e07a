"""The audit's mapping tables: which analyzer rules run, and how each maps to a category, a CWE, a severity and a
suggested fix.

The category is a short kebab-case kind shared across tools (bandit's B602 and the `js-child-process-exec` pattern
are both `command-injection`), so that the aggregator can merge what several tools say about one place. The
patterns analyzer's own regex rules are in :mod:`workbench.audit.pattern_rules`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from workbench.audit.models import Confidence, Severity


@dataclass(frozen=True)
class Rule:
    """How one analyzer rule maps onto the finding schema (None: keep what the tool said)."""

    category: str
    severity: Severity | None = None
    cwe: int | None = None
    fix: str | None = None
    confidence: Confidence | None = None


# Suggested fix per category, used when a rule has no more specific text.
CATEGORY_FIXES: dict[str, str] = {
    "command-injection": "Pass an argument list to subprocess without shell=True; never build a command from input.",
    "sql-injection": "Use parameterized queries (placeholders and a parameter tuple), never string formatting.",
    "code-injection": "Do not evaluate input as code; parse it (ast.literal_eval, JSON) or map it to known operations.",
    "insecure-deserialization": "Deserialize untrusted data with a data-only format (JSON, yaml.safe_load).",
    "hardcoded-secret": "Remove the secret from the code, rotate it, and read it from the environment or a vault.",
    "weak-crypto": "Use a modern cipher and mode (AES-GCM, ChaCha20-Poly1305) from a maintained library.",
    "weak-hash": "Use SHA-256 or better; for passwords a KDF such as scrypt, argon2 or bcrypt.",
    "ldap-injection": "Escape values put into an LDAP filter (ldap3.utils.conv.escape_filter_chars).",
    "xpath-injection": "Pass values as XPath variables (lxml: xpath('//u[@id=$id]', id=value)), never by formatting.",
    "open-redirect": "Redirect only to relative paths or an allowlist of hosts; check the parsed URL's netloc.",
    "trust-boundary": "Validate request data before storing it in the session; store ids you looked up, not raw input.",
    "insecure-cookie": "Set secure=True (and httponly=True, samesite) on cookies that carry anything of value.",
    "tls-verification-disabled": "Keep certificate verification on; trust a private CA through its bundle instead.",
    "missing-timeout": "Pass an explicit timeout to every network call.",
    "insecure-temp-file": "Use tempfile.mkstemp/NamedTemporaryFile/TemporaryDirectory instead of predictable paths.",
    "debug-enabled": "Never enable debug mode in deployable code; take it from configuration, off by default.",
    "xss": "Insert text with textContent (or a sanitizer), never untrusted HTML.",
    "path-traversal": "Resolve the path and check it stays inside the intended directory before using it.",
    "xxe": "Parse untrusted XML with defusedxml.",
    "weak-random": "Use the secrets module for tokens, keys and passwords.",
    "download-exec": "Download to a file, verify its checksum or signature, then run it.",
    "insecure-permissions": "Grant the least permissions needed (e.g. 755 for directories, 644 for files).",
    "mutable-default": "Default to None and create the list/dict inside the function.",
    "loop-closure": "Bind the loop variable explicitly (a default argument or functools.partial).",
    "broad-except": "Catch the specific exceptions you expect; let the others propagate.",
    "swallowed-exception": "Handle the error or log it; do not silently discard it.",
    "always-true-assert": "Assert the condition itself: `assert cond, 'message'`, not a tuple.",
    "identity-comparison": "Compare values with == ; `is` compares object identity.",
    "unused-variable": "Remove the assignment or use the value; it often hides a typo.",
    "undefined-name": "Define or import the name; this line raises NameError when it runs.",
    "syntax-error": "Fix the syntax; the file cannot be imported as it is.",
    "complexity": "Split the function into smaller, named steps; cover each branch with a test.",
    "likely-bug": "Review the flagged code; the rule's documentation explains the failure mode.",
}

# --- ruff (agent bug_hunter): bug-focused rules only, style and security are out -----------------------------
# B: flake8-bugbear (minus the style-only checks in RUFF_IGNORE), E9: syntax/IO errors,
# F50/F52: broken %/format strings, F60: repeated dict keys, F63: always-true asserts and `is` on literals,
# F7: misplaced break/return/yield, F82: undefined names, F811: redefinition, F841: unused local,
# F901: raise NotImplemented, PLE: pylint errors, a few PLW warnings that are real bugs,
# RUF006 (dangling asyncio task), RUF018/RUF024/RUF026.
RUFF_SELECT: tuple[str, ...] = (
    "B", "E9", "F50", "F52", "F60", "F63", "F7", "F82", "F811", "F841", "F901", "PLE",
    "PLW0120", "PLW0127", "PLW0129", "PLW0131", "PLW0133", "PLW0177", "PLW0211", "PLW0602", "PLW0711",
    "PLW1501", "PLW1507", "PLW1508", "PLW1509", "PLW2101", "PLW3301",
    "RUF006", "RUF018", "RUF024", "RUF026",
)  # fmt: skip
# Habits rather than bugs, off unless asked for (WORKBENCH_AUDIT_RUFF_EXTEND_SELECT="E722,S110,S112"): a bare
# `except`, an exception silently passed or continued. Their mappings stay below for when they are selected.
RUFF_STYLE: tuple[str, ...] = ("E722", "S110", "S112")
# Style or API-design opinions, not bugs: calls in defaults (FastAPI's Depends), getattr with a constant, ABC
# shape, warnings' stacklevel, `raise ... from`, zip(strict=), unused loop variables.
RUFF_IGNORE: tuple[str, ...] = ("B007", "B008", "B009", "B010", "B024", "B027", "B028", "B904", "B905", "B911")

RUFF_RULES: dict[str, Rule] = {
    "B006": Rule("mutable-default", "medium", 1188),
    "B023": Rule("loop-closure", "medium"),
    "B011": Rule("always-true-assert", "low"),
    "B012": Rule("swallowed-exception", "medium", 584, "Do not return/break/continue inside finally."),
    "B014": Rule("likely-bug", "low"),
    "B016": Rule("likely-bug", "medium"),
    "B019": Rule("memory-leak", "low", 401, "Cache on a module-level function or use cached_property."),
    "B020": Rule("likely-bug", "medium"),
    "B026": Rule("likely-bug", "low"),
    "B030": Rule("likely-bug", "high"),
    "B031": Rule("likely-bug", "medium"),
    "B039": Rule("mutable-default", "medium", 1188),
    "E722": Rule("broad-except", "low", 396),
    "S110": Rule("swallowed-exception", "low", 390),
    "S112": Rule("swallowed-exception", "low", 390),
    "F631": Rule("always-true-assert", "medium", 570),
    "F632": Rule("identity-comparison", "medium", 595),
    "F811": Rule("likely-bug", "low"),
    "F841": Rule("unused-variable", "low", 563),
    "F821": Rule("undefined-name", "high"),
    "F822": Rule("undefined-name", "medium"),
    "F823": Rule("undefined-name", "high"),
    "E902": Rule("syntax-error", "info"),  # I/O error reading the file: the tool's problem, not the code's
    "invalid-syntax": Rule("syntax-error", "medium"),
    "PLE2502": Rule("hidden-unicode", "high", 1007, "Remove bidirectional control characters (Trojan Source)."),
    "PLW0133": Rule("likely-bug", "medium", None, "Add the missing `raise`."),
    "RUF006": Rule("likely-bug", "medium", None, "Keep a reference to the task until it is done."),
}
# Fallback by prefix (longest first) for selected rules without an entry above.
RUFF_PREFIXES: dict[str, Rule] = {
    "E9": Rule("syntax-error", "medium"),
    "PLE": Rule("likely-bug", "medium"),
    "F": Rule("likely-bug", "medium"),
}
RUFF_DEFAULT = Rule("likely-bug", "low")

# --- bandit (agent security) ------------------------------------------------------------------------------------
# Skipped: B101 assert (everywhere in tests), B110/B112 swallowed exceptions (ruff's S110/S112 report them for the
# bug hunter), B404 `import subprocess`, B603/B607 subprocess without a shell / by bare name (noise without input).
BANDIT_SKIP: tuple[str, ...] = ("B101", "B110", "B112", "B404", "B603", "B607")
BANDIT_RULES: dict[str, Rule] = {
    "B102": Rule("code-injection", None, 95),
    "B307": Rule("code-injection", None, 95),
    # weak hashes (CWE-328) apart from weak ciphers and modes (CWE-327)
    "B303": Rule("weak-hash", "medium", 328),
    "B304": Rule("weak-crypto", None, 327),
    "B305": Rule("weak-crypto", None, 327),
    # XML parsing (bandit says CWE-20): what it warns of is XXE. The standard library's parsers have not resolved
    # external entities since Python 3.7.1 (and expat 2.4.1 stops entity-expansion bombs), so a call alone is a
    # hint; the semgrep rule python-xxe reports request data reaching a parser configured to resolve entities.
    **{
        f"B{n}": Rule(
            "xxe", "low", 611, "Parse untrusted XML with defusedxml, or keep entity resolution off.", confidence="low"
        )
        for n in range(313, 321)
    },
    # bandit's password checks go by variable names (token, secret, pwd) and misfire often: kept at its low
    # severity; detect-secrets reports the same lines at medium when the value looks like a secret.
    "B105": Rule("hardcoded-secret"),
    "B106": Rule("hardcoded-secret"),
    "B107": Rule("hardcoded-secret"),
    "B108": Rule("insecure-temp-file"),
    "B306": Rule("insecure-temp-file"),
    "B113": Rule("missing-timeout", "low"),
    "B201": Rule("debug-enabled", None, 489),
    "B301": Rule("insecure-deserialization"),
    "B506": Rule("insecure-deserialization", None, 502),
    # md5/sha1 are as often ids and cache keys as password hashes: medium, for the triage to judge
    "B324": Rule("weak-hash", "medium", 328, confidence="medium"),
    "B501": Rule("tls-verification-disabled"),
    "B608": Rule("sql-injection", "high"),  # bandit says medium; a query built from strings is this audit's top risk
    "B311": Rule("weak-random", "low", 330),
    "B202": Rule("path-traversal", None, 22, "Extract with filter='data' (Python 3.12+) or check every member's path."),
    "B701": Rule("xss", None, 79, "Turn autoescaping on (autoescape=True or select_autoescape())."),
    "B702": Rule("xss", None, 79, "Escape template output (default_filters=['h'])."),
    "B703": Rule("xss", None, 79, "Do not mark untrusted text safe; escape it."),
    "B308": Rule("xss", None, 79, "Do not mark untrusted text safe; escape it."),
    "B104": Rule("bind-all-interfaces", "low", 605, "Bind to 127.0.0.1 unless the service must be reachable."),
}
# Bandit's own CWE decides the category when the test id has no entry (and names the taint rules' classes).
CWE_CATEGORIES: dict[int, str] = {
    78: "command-injection",
    89: "sql-injection",
    94: "code-injection",
    95: "code-injection",
    259: "hardcoded-secret",
    798: "hardcoded-secret",
    295: "tls-verification-disabled",
    326: "weak-crypto",
    327: "weak-crypto",
    328: "weak-hash",
    330: "weak-random",
    90: "ldap-injection",
    643: "xpath-injection",
    601: "open-redirect",
    501: "trust-boundary",
    614: "insecure-cookie",
    377: "insecure-temp-file",
    400: "missing-timeout",
    502: "insecure-deserialization",
    611: "xxe",
    732: "insecure-permissions",
    79: "xss",
    22: "path-traversal",
}
BANDIT_SEVERITY: dict[str, Severity] = {"HIGH": "high", "MEDIUM": "medium", "LOW": "low", "UNDEFINED": "info"}
BANDIT_CONFIDENCE: dict[str, Confidence] = {"HIGH": "high", "MEDIUM": "medium", "LOW": "low", "UNDEFINED": "low"}


def bandit_rule(test_id: str, cwe: int | None, test_name: str) -> Rule:
    """The mapping for one bandit result: its table entry, else a category from its CWE."""
    if test_id in BANDIT_RULES:
        return BANDIT_RULES[test_id]
    if test_id.startswith("B4"):  # import blacklist: an import is a hint, not a finding
        if test_id in ("B405", "B406", "B407", "B408", "B409", "B410"):  # XML modules: see B313-B320
            return Rule("xxe", "info", 611)
        return Rule(CWE_CATEGORIES.get(cwe or 0, "risky-import"), "info")
    return Rule(CWE_CATEGORIES.get(cwe or 0, test_name.replace("_", "-")))


# --- taint corroboration ----------------------------------------------------------------------------------------
# Bandit sees the shape of a call (a string-built query, a shell command, pickle.loads), not where its data comes
# from. Where semgrep's taint rules cover the class and analyzed the file without tracing request data to such a
# sink in it, bandit's finding is kept at low confidence, with a note (intraprocedural: data passed in as a
# function parameter is not followed, so the finding stays listed).
TAINT_CWES: frozenset[int] = frozenset({78, 89, 94, 95, 502, 22, 79, 611, 90, 643, 601, 501})


# --- detect-secrets (agent security) ----------------------------------------------------------------------------
# Its JSON names the secret type; the rule id uses the detector's class name. Provider key formats are high;
# the keyword detector (password = "...") medium; entropy-only hits low with low confidence.
SECRET_TYPES: dict[str, tuple[str, Severity, Confidence]] = {
    "AWS Access Key": ("AWSKeyDetector", "high", "high"),
    "Artifactory Credentials": ("ArtifactoryDetector", "high", "medium"),
    "Azure Storage Account access key": ("AzureStorageKeyDetector", "high", "high"),
    "Basic Auth Credentials": ("BasicAuthDetector", "high", "medium"),
    "Discord Bot Token": ("DiscordBotTokenDetector", "high", "high"),
    "GitHub Token": ("GitHubTokenDetector", "high", "high"),
    "GitLab Token": ("GitLabTokenDetector", "high", "high"),
    "JSON Web Token": ("JwtTokenDetector", "medium", "medium"),
    "Private Key": ("PrivateKeyDetector", "high", "high"),
    "OpenAI Token": ("OpenAIDetector", "high", "high"),
    "PyPI Token": ("PypiTokenDetector", "high", "high"),
    "NPM tokens": ("NpmDetector", "high", "high"),
    "SendGrid API Key": ("SendGridDetector", "high", "high"),
    "Slack Token": ("SlackDetector", "high", "high"),
    "Stripe Access Key": ("StripeDetector", "high", "high"),
    "Twilio API Key": ("TwilioKeyDetector", "high", "high"),
    "Secret Keyword": ("KeywordDetector", "medium", "medium"),
    "Base64 High Entropy String": ("Base64HighEntropyString", "low", "low"),
    "Hex High Entropy String": ("HexHighEntropyString", "low", "low"),
    "Public IP (ipv4)": ("IPPublicDetector", "info", "low"),
}

# Shapes of well-known credentials, masked in every finding's evidence whichever tool reported it.
SECRET_SHAPES = re.compile(
    r"(?:AKIA|ASIA)[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{36,}|github_pat_\w{22,}|glpat-[\w-]{20}"
    r"|xox[abposr]-[\w-]{10,}|sk_live_\w{16,}|sk-[A-Za-z0-9_-]{20,}|AIza[\w-]{35}"
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----"
)

"""The security agent's Semgrep rules (workbench/audit/semgrep/python.yaml), each on a vulnerable and a safe case
written for it, run through the real engine; and what the taint analyzer reports about coverage and traces."""

from __future__ import annotations

import json
import os
import sys
import textwrap

import pytest
import yaml

from workbench.audit.analyzers import run_bandit, run_ruff, run_semgrep
from workbench.audit.analyzers.semgrep import RULES_DIR, rule_mapping, rules, semgrep_core

# CI installs semgrep (scripts/setup.sh): there a missing engine fails these tests instead of skipping them
pytestmark = pytest.mark.skipif(
    semgrep_core() is None and not os.environ.get("CI"), reason="semgrep is installed by scripts/setup.sh"
)

FLASK = "from flask import Flask, request, redirect, session, make_response\napp = Flask(__name__)\n"

# rule id -> (vulnerable, safe): the body of a Flask view; `name` is request data in both
CASES: dict[str, tuple[str, str]] = {
    "python-command-injection": (
        "import subprocess\nsubprocess.run(f'ls {name}', shell=True)",
        "import subprocess, shlex\nsubprocess.run(f'ls {shlex.quote(name)}', shell=True)",
    ),
    "python-code-injection": (
        "return str(eval(name))",
        "return str(eval(str(int(name)) + ' * 2'))",
    ),
    "python-insecure-deserialization": (
        "import pickle\nreturn str(pickle.loads(name.encode()))",
        "import json\nreturn str(json.loads(name))",
    ),
    "python-sql-injection": (
        "cur = db.cursor()\ncur.execute(f\"SELECT * FROM users WHERE name = '{name}'\")",
        "cur = db.cursor()\ncur.execute('SELECT * FROM users WHERE name = ?', (name,))",
    ),
    "python-ldap-injection": (
        "import ldap3\nconn = ldap3.Connection('ldap://x')\nconn.search('ou=users', f'(uid={name})')",
        "import ldap3\nfrom ldap3.utils.conv import escape_filter_chars\nconn = ldap3.Connection('ldap://x')\n"
        "conn.search('ou=users', f'(uid={escape_filter_chars(name)})')",
    ),
    "python-path-traversal": (
        "return open(f'/srv/files/{name}').read()",
        "import os\nreturn open(os.path.join('/srv/files', os.path.basename(name))).read()",
    ),
    "python-open-redirect": (
        "return redirect(name)",
        "from urllib.parse import urlparse\nu = urllib.parse.urlparse(name)\n"
        "if u.netloc not in ['example.com']:\n    return 'no'\nreturn redirect(name)",
    ),
    "python-xpath-injection": (
        "import lxml.etree\ntree = lxml.etree.parse('db.xml')\nreturn str(tree.xpath(f\"//user[@name='{name}']\"))",
        "import lxml.etree\ntree = lxml.etree.parse('db.xml')\nreturn str(tree.xpath('//user[@name=$n]', n=name))",
    ),
    "python-trust-boundary": (
        "session['user'] = name\nreturn 'ok'",
        "session['user'] = int(name)\nreturn 'ok'",
    ),
    "python-xss": (
        "return f'<p>Hello {name}</p>'",
        "import html\nreturn f'<p>Hello {html.escape(name)}</p>'",
    ),
    "python-xxe": (
        "import xml.sax, xml.dom.minidom\nparser = xml.sax.make_parser()\n"
        "parser.setFeature(xml.sax.handler.feature_external_ges, True)\n"
        "return xml.dom.minidom.parseString(name, parser).toxml()",
        "import xml.dom.minidom\nreturn xml.dom.minidom.parseString(name).toxml()",
    ),
    "python-weak-hash": (
        "import hashlib\nreturn hashlib.md5(name.encode()).hexdigest()",
        "import hashlib\nreturn hashlib.sha256(name.encode()).hexdigest()",
    ),
    "python-weak-random": (
        "import random\nreturn str(random.random())",
        "import secrets\nreturn secrets.token_hex(16)",
    ),
    "python-insecure-session-cookie-setting": ("SESSION_COOKIE_SECURE = False", "SESSION_COOKIE_SECURE = True"),
    "python-insecure-cookie": (
        "r = make_response('ok')\nr.set_cookie('sid', name, secure=False)\nreturn r",
        "r = make_response('ok')\nr.set_cookie('sid', name, secure=True, httponly=True)\n"
        "jar.set_cookie(cookie)  # a cookie jar, not a response\nreturn r",
    ),
}


# rule id -> (vulnerable, safe): the body of an Express handler; `name` is request data in both
JS_CASES: dict[str, tuple[str, str]] = {
    "js-command-injection": (
        "exec('ls ' + name, () => {});",
        "execFile('ls', [name], () => {});",
    ),
    "js-code-injection": ("res.json({ value: eval(name) });", "res.json({ value: JSON.parse(name) });"),
    "js-sql-injection": (
        "db.query(`SELECT * FROM users WHERE name = '${name}'`);",
        "db.query('SELECT * FROM users WHERE name = $1', [name]);",
    ),
    "js-path-traversal": (
        "res.send(fs.readFileSync('/srv/files/' + name));",
        "const data = fs.readFileSync('/srv/files/' + path.basename(name));\n  res.json({ size: data.length });",
    ),
    "js-open-redirect": ("res.redirect(name);", "res.redirect('/home');"),
    "js-xss": ("res.send('<p>Hello ' + name + '</p>');", "res.send('<p>Hello ' + escapeHtml(name) + '</p>');"),
}
EXPRESS = (
    "const { exec, execFile } = require('child_process');\nconst fs = require('fs');\nconst path = require('path');\n"
    "const db = require('./db');\nconst app = require('express')();\n\n"
)


def handler(body: str) -> str:
    return EXPRESS + "app.get('/x', (req, res) => {\n  const name = req.query.name;\n  " + body + "\n});\n"


def view(body: str) -> str:
    """A Flask view reading `name` from the query string, then running `body`."""
    return (
        FLASK
        + "import urllib.parse\n\n\n@app.route('/x')\ndef x():\n    name = request.args.get('name', '')\n"
        + textwrap.indent(body, "    ")
        + "\n"
    )


def test_every_rule_has_a_case_and_a_category_and_cwe():
    ids = {rule["id"] for rule in rules()["rules"]}
    assert ids == set(CASES) | set(JS_CASES)
    for rule in rules()["rules"]:
        mapping = rule_mapping(rule)
        assert mapping.category and mapping.cwe, rule["id"]


@pytest.fixture(scope="module")
def scanned(tmp_path_factory) -> dict[str, set[str]]:
    """Rule ids per case file, every case in one engine run."""
    root = tmp_path_factory.mktemp("cases")
    for rule_id, (bad, good) in CASES.items():
        (root / f"{rule_id}-bad.py").write_text(view(bad))
        (root / f"{rule_id}-good.py").write_text(view(good))
    for rule_id, (bad, good) in JS_CASES.items():
        (root / f"{rule_id}-bad.js").write_text(handler(bad))
        (root / f"{rule_id}-good.ts").write_text(handler(good))  # TypeScript reads the same rules
    run = run_semgrep(root, timeout_s=120)
    assert run.status == "ok", run.error
    found: dict[str, set[str]] = {}
    for finding in run.findings:
        found.setdefault(finding.file, set()).add(finding.rule.removeprefix("semgrep/"))
    return found


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_flags_the_vulnerable_case_and_not_the_safe_one(scanned, rule_id):
    assert rule_id in scanned.get(f"{rule_id}-bad.py", set()), scanned.get(f"{rule_id}-bad.py")
    assert rule_id not in scanned.get(f"{rule_id}-good.py", set())


@pytest.mark.parametrize("rule_id", sorted(JS_CASES))
def test_javascript_rule_flags_the_vulnerable_case_and_not_the_safe_one(scanned, rule_id):
    assert rule_id in scanned.get(f"{rule_id}-bad.js", set()), scanned.get(f"{rule_id}-bad.js")
    assert scanned.get(f"{rule_id}-good.ts", set()) == set()


def test_a_taint_finding_carries_its_source_to_sink_trace_cwe_and_evidence(tmp_path):
    (tmp_path / "app.py").write_text(view("cmd = 'ls ' + name\nimport os\nos.system(cmd)"))
    run = run_semgrep(tmp_path, timeout_s=60)
    [finding] = [f for f in run.findings if f.category == "command-injection"]
    assert (finding.rule, finding.cwe, finding.tool, finding.agent) == (
        "semgrep/python-command-injection",
        78,
        "semgrep",
        "security",
    )
    assert finding.evidence == "os.system(cmd)"
    roles = [(step.role, step.line) for step in finding.trace]
    assert roles[0] == ("source", 8) and roles[-1] == ("sink", 11)
    assert [step.code for step in finding.trace if step.role == "step"] == ["name", "cmd"]


def test_request_path_is_request_data_unless_the_view_route_is_static(tmp_path):
    (tmp_path / "app.py").write_text(
        FLASK
        + "@app.route('/static/page')\ndef fixed():\n    return redirect(request.path.split('/')[1])\n\n\n"
        + "@app.route('/files/<path:name>')\ndef files(name):\n    return redirect(request.path)\n\n\n"
        + "def helper():\n    return redirect(request.path)\n"
    )
    redirects = [f.line for f in run_semgrep(tmp_path, timeout_s=60).findings if f.category == "open-redirect"]
    assert redirects == [10, 14]  # not line 5: Werkzeug serves a static rule only for the path equal to it


def test_suppression_comments_are_not_obeyed(tmp_path):
    (tmp_path / "app.py").write_text(view("return str(eval(name))  # nosemgrep"))
    [finding] = [f for f in run_semgrep(tmp_path, timeout_s=60).findings if f.category == "code-injection"]
    assert finding.confidence == "low" and "suppression comment" in finding.message


PY312 = 'user = {"name": "ada"}\nprint(f"{user["name"]}")\n'  # same quotes inside an f-string: Python 3.12+


def test_a_file_in_python_312_syntax_is_analyzed_by_semgrep_and_ruff(tmp_path):
    (tmp_path / "new.py").write_text(PY312 + "import os\nos.system(input())\n")
    assert run_semgrep(tmp_path, timeout_s=60).status == "ok"
    ruff = run_ruff(tmp_path, timeout_s=60)
    assert ruff.status == "ok" and ruff.analyzed == 1


def test_bandit_names_a_file_it_cannot_parse_instead_of_passing_it_silently(tmp_path, monkeypatch):
    # bandit under this interpreter (no tool venv): Python 3.11 cannot parse 3.12 f-strings
    monkeypatch.setenv("WORKBENCH_AUDIT_TOOLS", str(tmp_path / "no-tools"))
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "new.py").write_text(PY312)
    (repo / "old.py").write_text("import pickle\npickle.loads(b'')\n")
    run = run_bandit(repo, timeout_s=60)
    if sys.version_info >= (3, 12):
        assert run.status == "ok"
        return
    assert run.status == "partial"
    assert (run.files, run.analyzed) == (2, 1)
    [unread] = run.not_analyzed
    assert unread.file == "new.py"
    assert "Python 3.11's grammar" in unread.reason
    assert {f.file for f in run.findings} == {"old.py"}  # the rest is still analyzed


def test_bandit_from_its_tool_venv_parses_python_312(tmp_path):
    from workbench.audit.analyzers.toolchain import tool_env

    env = tool_env("bandit")
    if env is None:
        pytest.skip("no Python 3.12+ on this machine: scripts/setup.sh installs bandit under one when there is")
    (tmp_path / "new.py").write_text(PY312 + "import pickle\npickle.loads(b'')\n")
    run = run_bandit(tmp_path, timeout_s=60)
    assert run.status == "ok" and run.analyzed == 1
    assert "bandit/B301" in [f.rule for f in run.findings]


def test_rule_file_is_valid_yaml_with_metadata_on_every_rule():
    loaded = yaml.safe_load((RULES_DIR / "python.yaml").read_text())
    for rule in loaded["rules"]:
        assert {"category", "cwe", "confidence"} <= set(rule["metadata"]), rule["id"]
        assert rule["severity"] in ("ERROR", "WARNING", "INFO")


def test_missing_engine_is_an_error_that_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_AUDIT_TOOLS", str(tmp_path / "none"))
    (tmp_path / "a.py").write_text("x = 1\n")
    run = run_semgrep(tmp_path, timeout_s=30)
    assert run.status == "error" and "scripts/setup.sh" in (run.error or "")


def test_files_the_engine_gave_up_on_are_reported_not_analyzed(tmp_path, monkeypatch):
    # an engine answering as semgrep-core does when rules time out on a file (core_output's core_error)
    (tmp_path / "slow.py").write_text("x = 1\n")
    (tmp_path / "fine.py").write_text("y = 2\n")
    answer = {
        "results": [],
        "errors": [
            {
                "error_type": "Timeout",
                "severity": "error",
                "message": "Timeout when running rules on slow.py",
                "location": {"path": str(tmp_path / "slow.py"), "start": {"line": 1}, "end": {"line": 1}},
            }
        ],
        "paths": {"scanned": [str(tmp_path / "slow.py"), str(tmp_path / "fine.py")]},
    }
    engine = tmp_path / "engine"
    engine.write_text(f"#!/bin/sh\nprintf '.\\n%s' '{json.dumps(answer)}'\n")
    engine.chmod(0o755)
    monkeypatch.setenv("WORKBENCH_SEMGREP_CORE", str(engine))
    run = run_semgrep(tmp_path, timeout_s=30)
    assert (run.status, run.files, run.analyzed) == ("partial", 2, 1)
    assert [(n.file, n.reason) for n in run.not_analyzed] == [("slow.py", "semgrep: timeout at line 1")]

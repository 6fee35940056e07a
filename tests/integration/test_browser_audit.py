"""A real browser (Debian's Chromium driven by Playwright) audits a fixture repository in the Audit tab.

The server may audit one temporary root holding ``datasets/repos/inventory-api`` (made a git repository, so the
clone path runs). The audit runs without a language model (``none``), so it is quick and deterministic: the
planted findings must show in the table, every agent must end ``ok``, the summary must appear, the severity
filter must narrow the table without a re-run, and the Markdown download must be the report. A hostile target
(git's ``ext::`` transport) must be refused with a clear message and run nothing; the finished audit must open
again from the recent list.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import git
import pytest

from tests.integration.conftest import ROOT, column, pick, running_server

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.timeout(300)]

AUDIT_TIMEOUT_MS = 90_000
AUTHOR = git.Actor("Fixture Author", "fixture@example.com")


def fixture_repo(root: Path) -> Path:
    """``inventory-api`` copied under ``root`` and committed, so the audit clones it like a real repository."""
    dest = root / "inventory-api"
    shutil.copytree(ROOT / "datasets" / "repos" / "inventory-api", dest,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))  # fmt: skip
    repo = git.Repo.init(dest, initial_branch="main")
    try:
        repo.git.add("-A")
        repo.index.commit("fixture", author=AUTHOR, committer=AUTHOR)
    finally:
        repo.close()
    return dest


def test_audit_tab_runs_filters_downloads_refuses_reopens_and_cancels(browser, tmp_path):
    from playwright.sync_api import expect

    root, home = tmp_path / "repos", tmp_path / "home"
    root.mkdir(), home.mkdir()
    target = fixture_repo(root)
    pwned = tmp_path / "pwned"
    env = {"WORKBENCH_AUDIT_ALLOWED_ROOTS": str(root), "WORKBENCH_LLM": "extractive", "WORKBENCH_WARM_SPEECH": "false"}
    with running_server(home, **env) as server:
        page = browser.new_page(accept_downloads=True)
        page.goto(server.url + "/", wait_until="load")
        page.get_by_role("tab", name="Audit").click()
        repo = page.locator("#audit-repo textarea")
        expect(repo).to_have_attribute("placeholder", re.compile(re.escape(str(root))), timeout=30_000)

        # 1. Audit the fixture without a model: live agent rows, then findings, summary, counts.
        repo.fill(str(target))
        pick(page, "audit-model", "none")
        expect(page.locator("#audit-model input")).to_have_value("none")
        page.locator("#audit-run").click()
        status = page.locator("#audit-status")
        expect(status).to_contain_text("Audit completed", timeout=AUDIT_TIMEOUT_MS)
        findings = page.locator("#audit-findings")
        expect(findings).to_contain_text("bandit/B602")
        assert column(page, "audit-agents-status", 0) == ["explorer", "bug_hunter", "security"]
        assert column(page, "audit-agents-status", 1) == ["ok", "ok", "ok"]
        expect(page.locator("#audit-summary")).to_contain_text("Verdict")
        expect(page.locator("#audit-progress")).to_contain_text("100%")
        counts = page.locator("#audit-counts").inner_text()
        high = int(re.search(r"high\s+(\d+)", counts).group(1))  # type: ignore[union-attr]
        total = int(re.search(r"total\s+(\d+)", counts).group(1))  # type: ignore[union-attr]
        assert 0 < high < total
        grid = page.locator("#audit-findings [role=grid]")  # aria-rowcount: rows + header, rendered or not
        expect(grid).to_have_attribute("aria-rowcount", str(total + 1))

        # 2. Filters narrow the table without a re-run: by file (the planted SQL injection), then by severity.
        file_filter = page.locator("#audit-filter-file textarea")
        file_filter.fill("db.py")
        expect(findings).not_to_contain_text("importers.py")
        expect(findings).to_contain_text("CWE-89")
        assert set(column(page, "audit-findings", 3)) == {"inventory/db.py"}
        file_filter.fill("")
        expect(grid).to_have_attribute("aria-rowcount", str(total + 1))
        pick(page, "audit-filter-severity", "high")
        expect(grid).to_have_attribute("aria-rowcount", str(high + 1))
        assert set(column(page, "audit-findings", 0)) == {"high"}
        file_filter.fill("reports.py")
        expect(findings).not_to_contain_text("importers.py")
        assert set(column(page, "audit-findings", 3)) == {"inventory/reports.py"}
        assert "Audit completed" in status.inner_text()

        # 3. Downloads: all three offered; the Markdown one is the report.
        for name in ("md", "sarif", "json"):
            expect(page.locator(f"#audit-download-{name}")).to_be_enabled()
        with page.expect_download(timeout=15_000) as download:
            page.locator("#audit-download-md").click()
        assert download.value.suggested_filename.endswith(".md")
        report = Path(download.value.path()).read_text()
        assert report.startswith("# Repository audit:") and "bandit/B602" in report

        # 4. A hostile target is refused with the reason, and nothing runs.
        repo.fill(f"ext::sh -c touch% {pwned}")
        page.locator("#audit-run").click()
        expect(status).to_contain_text("Refused", timeout=15_000)
        refusal = status.inner_text()
        assert "Traceback" not in refusal and "https://" in refusal, refusal
        assert not pwned.exists()

        # 5. The finished audit opens again from the recent list (no re-run).
        expect(page.locator("#audit-recent input")).to_have_value(re.compile("inventory-api · completed"))
        page.locator("#audit-load").click()
        expect(status).to_contain_text("Audit completed", timeout=15_000)
        expect(findings).to_contain_text("bandit/B602")
        page.screenshot(path=str(tmp_path / "audit.png"), full_page=True)

        # 6. Cancel stops a running audit.
        repo.fill(str(target))
        page.locator("#audit-run").click()
        expect(status).to_contain_text("Auditing", timeout=15_000)
        page.locator("#audit-cancel").click()
        expect(status).to_contain_text("Cancelled", timeout=30_000)
        expect(page.locator("#audit-download-md")).to_be_disabled()
        page.close()

"""Release notes as HTML, from the release manifest and the merged pull requests."""

from __future__ import annotations

import requests
from jinja2 import Environment, PackageLoader

GITHUB_API = "https://api.github.com/repos/example/shop"

_templates = Environment(loader=PackageLoader("deploy", "templates"), autoescape=False)


def merged_pull_requests(version: str) -> list[dict]:
    response = requests.get(f"{GITHUB_API}/pulls", params={"state": "closed", "milestone": version}, timeout=15)
    response.raise_for_status()
    return [pr for pr in response.json() if pr.get("merged_at")]


def render_notes(version: str, manifest: dict) -> str:
    template = _templates.get_template("notes.html")
    return template.render(version=version, manifest=manifest, pulls=merged_pull_requests(version))

"""The `deploy` command: release notes, bundle checks and rollouts."""

from __future__ import annotations

import argparse
import hashlib
import shlex
import subprocess
import sys
from pathlib import Path

import yaml

from deploy import bundles, notes

ENVIRONMENTS = ("staging", "production")


def load_manifest(path: Path) -> dict:
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle) or {}


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def rollout(environment: str, image: str, dry_run: bool = False) -> int:
    if environment not in ENVIRONMENTS:
        ValueError(f"unknown environment {environment!r}")
    command = ["kubectl", "--context", environment, "set", "image", "deployment/shop", f"shop={image}"]
    if dry_run:
        print(shlex.join(command))
        return 0
    return subprocess.run(command, check=False).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="deploy")
    commands = parser.add_subparsers(dest="command", required=True)
    notes_cmd = commands.add_parser("notes")
    notes_cmd.add_argument("version")
    check_cmd = commands.add_parser("check")
    check_cmd.add_argument("bundle", type=Path)
    check_cmd.add_argument("--sha256", required=True)
    rollout_cmd = commands.add_parser("rollout")
    rollout_cmd.add_argument("--env", choices=ENVIRONMENTS, required=True)
    rollout_cmd.add_argument("--image", required=True)
    rollout_cmd.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    if args.command == "notes":
        sys.stdout.write(notes.render_notes(args.version, load_manifest(Path("release.yaml"))))
        return 0
    if args.command == "check":
        ok = sha256_of(args.bundle) == args.sha256.lower()
        if ok:
            bundles.unpack(args.bundle, Path("releases"))
        return 0 if ok else 1
    return rollout(args.env, args.image, args.dry_run)

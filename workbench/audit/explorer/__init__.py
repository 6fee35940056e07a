"""The explorer's repository map: a static, deterministic picture of a checkout, and a Markdown summary of it.

Nothing from the repository is executed: files are read as bytes, manifests are parsed with ``tomllib``/``json``/
``configparser``/``ast``, and the only process started is ``git`` itself (``rev-list`` and one bounded ``log``),
with the repository's hooks, fsmonitor, external diff, textconv and signature display switched off and the global
and system configs ignored. Symbolic links are never followed.

``build_repo_map(root)`` returns a JSON-serializable dict with these keys:

- ``files``, ``lines``, ``code_lines``, ``bytes``: totals over the files walked (``lines`` over every text file,
  ``code_lines`` non-blank non-comment lines in recognized languages); ``binary_files``: files with a NUL byte in
  their first 8 KiB; ``truncated``: the walk stopped at ``max_files``.
- ``languages``: ``[{language, files, lines, code_lines, share}]`` by lines, ``share`` of the lines in
  recognized languages (docstrings count as code; block comments are recognized for C-like languages and HTML).
- ``structure``: top-level entries ``{name, type: "dir"|"file", files, lines, language}`` by lines (directories
  also say ``python_package``); the three biggest directories carry ``children``: their ten biggest entries
  ``{name, type, files, lines, language}``.
- ``largest_files``: the ten longest files ``{file, lines, bytes, language}``; ``large_files``: files over 2 MB,
  not read, ``{file, bytes}``.
- ``skipped``: relative paths of the directories not walked (``.git``, ``node_modules``, ``.venv``, ``vendor``...).
- ``entry_points``: ``[{kind, name, path, target}]``; kinds: console_script, gui_script, python_module
  (``__main__.py``), python_script (``if __name__ == "__main__"``), django_manage, web_app, npm_main, npm_bin,
  npm_start, go_main, rust_bin, docker_entrypoint, docker_cmd. ``target`` is what it runs, or None.
- ``dependencies``: ``[{ecosystem, name, spec, manifest, dev}]`` from manifests at most two folders deep;
  ecosystems pypi, npm, go, cargo, rubygems, composer. ``manifests``: the manifest paths read.
- ``tests``: ``{present, dirs, files}`` (test folders and the number of test files); ``has_license``,
  ``has_readme``, ``has_ci`` and ``ci`` (the CI configuration files found).
- ``history``: None for a non-git folder (or ``history=False``), else ``{commits, analyzed, shallow, first,
  last, authors: [{name, commits}], authors_total, hotspots: [{file, commits, added, deleted}], recent: [{sha,
  date, subject}], error}``. ``commits`` counts the fetched history of HEAD, ``analyzed`` the commits ``git log``
  read (at most 2000), ``first``/``last`` the dates of the oldest/newest of those. Authors are names only (top
  ten; ``authors_total`` counts them all). Hotspots are files present in the checkout, lock files excluded; in a
  shallow clone the boundary commits are left out of churn, their diff being the whole tree.
"""

from workbench.audit.explorer.cancel import ExplorationCancelled
from workbench.audit.explorer.languages import count_lines, language_of
from workbench.audit.explorer.repomap import build_repo_map
from workbench.audit.explorer.summary import describe

__all__ = ["ExplorationCancelled", "build_repo_map", "count_lines", "describe", "language_of"]

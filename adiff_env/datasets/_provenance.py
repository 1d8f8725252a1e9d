"""Provenance recorded with every dataset (kept as an import path; the one implementation is
:mod:`adiff_env._provenance`)."""

from __future__ import annotations

from adiff_env._provenance import git_commit, package_versions

__all__ = ["git_commit", "package_versions"]

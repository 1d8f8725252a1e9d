"""``adiff models list|show``: the model registry (shipped checkpoints in planners/pretrained/ and
local ones in $ADIFF_HOME/models). Reads metadata.json only: no torch, no weights."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list the registry's models, show one's metadata",
                       description="Models in the registry: local ($ADIFF_HOME/models) and shipped "
                                   "(planners/pretrained, read-only). A spec is NAME, NAME@vK or a checkpoint folder.")
    actions = p.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    ls = actions.add_parser("list", help="one row per model version: name, version, kind, env, where")
    ls.add_argument("--json", action="store_true", help="print a JSON list")
    ls.set_defaults(func=run_list)
    sh = actions.add_parser("show", help="print one version's metadata (latest unless pinned with @vK)")
    sh.add_argument("spec", help="NAME, NAME@vK or a checkpoint folder, e.g. pointmaze-umaze@v2")
    sh.add_argument("--json", action="store_true", help="print metadata.json as it is")
    sh.set_defaults(func=run_show)


def _rows() -> list[dict]:
    from adiff_env.registry import ModelRegistry

    registry = ModelRegistry()
    rows = []
    for name, versions in registry.list_models().items():
        for version in versions:
            path = registry.resolve(f"{name}@v{version}")
            meta = _metadata(path)
            shipped = any(root in path.parents for root in registry.read_only_roots)
            rows.append({"name": name, "version": version, "spec": f"{name}@v{version}", "kind": meta.get("kind"),
                         "env": meta.get("env"), "scores": meta.get("scores") or {},
                         "where": "shipped" if shipped else "local", "path": str(path)})
    return rows


def _metadata(path) -> dict:
    from adiff_env.registry import METADATA, _read_json

    return _read_json(path / METADATA)


def run_list(args: argparse.Namespace) -> int:
    rows = _rows()
    if args.json:
        print(json.dumps(rows))
        return 0
    if not rows:
        print("no models (train one with 'adiff maze train' or 'adiff code train')")
        return 0
    print(f"{'model':<28} {'kind':<20} {'env':<36} where")
    for r in rows:
        print(f"{r['spec']:<28} {r['kind'] or '?':<20} {r['env'] or '-':<36} {r['where']}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    from adiff_env.registry import CONFIG, ModelRegistry, _read_json

    path = ModelRegistry().resolve(args.spec)
    meta = _metadata(path)
    if args.json:
        print(json.dumps(meta, indent=1))
        return 0
    config = _read_json(path / CONFIG) if (path / CONFIG).is_file() else {}
    print(f"{meta.get('name')}@v{meta.get('version')}  ({path})")
    rows = [("kind", meta.get("kind")), ("env", meta.get("env")), ("dataset", meta.get("dataset")),
            ("steps", meta.get("steps")), ("seed", meta.get("seed")), ("parent", meta.get("parent")),
            ("created at", meta.get("created_at")), ("git commit", meta.get("git_commit")),
            ("scores", json.dumps(meta.get("scores") or {})),
            ("acting", json.dumps(config.get("act", {}))), ("files", ", ".join(sorted(meta.get("files", {}))))]
    for label, value in rows:
        print(f"  {label:<11} {value if value is not None else '-'}")
    return 0

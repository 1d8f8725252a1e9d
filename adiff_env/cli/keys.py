"""``adiff keys create|list|revoke``: API keys of the service (stored hashed in its SQLite store)."""

from __future__ import annotations

import argparse
import datetime


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("keys", help="API keys of 'adiff serve': create (shown once), list, revoke",
                       description="Keys carry scopes: generate, adapt, verdict, admin. Only a hash is stored.")
    p.add_argument("--config", help="the serve TOML config (for its home folder)")
    p.add_argument("--home", help="service data folder (default $ADIFF_HOME/serve)")
    ks = p.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    c = ks.add_parser("create", help="create a key and print it (the only time it is shown)")
    c.add_argument("--scope", action="append", required=True, choices=["generate", "adapt", "verdict", "admin"],
                   help="scope (repeatable)")
    c.add_argument("--name", help="a label for the key")
    c.set_defaults(func=run_create)
    ls = ks.add_parser("list", help="list keys (ids, scopes, revoked or not)")
    ls.set_defaults(func=run_list)
    r = ks.add_parser("revoke", help="revoke a key by id")
    r.add_argument("key_id")
    r.set_defaults(func=run_revoke)


def _store(args: argparse.Namespace):
    from adiff_env.api.config import load_config
    from adiff_env.api.store import Store

    return Store(load_config(args.config, home=args.home).db_path)


def run_create(args: argparse.Namespace) -> int:
    from adiff_env.api.security import create_key

    new = create_key(_store(args), args.scope, args.name)
    print(new.key)
    print(f"key id {new.key_id}, scopes {','.join(new.scopes)}: store it now, it is not shown again", flush=True)
    return 0


def run_list(args: argparse.Namespace) -> int:
    for row in _store(args).list_keys():
        made = datetime.datetime.fromtimestamp(row["created_at"], datetime.UTC).isoformat(timespec="seconds")
        state = "revoked" if row["revoked_at"] else "active"
        print(f"{row['id']}  {row['scopes']:<28} {state:<8} {made}  {row['name'] or ''}")
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    store = _store(args)
    if store.get_key(args.key_id) is None:
        raise ValueError(f"no key {args.key_id!r}; 'adiff keys list' shows the ids.")
    store.revoke_key(args.key_id)
    print(f"revoked {args.key_id}")
    return 0

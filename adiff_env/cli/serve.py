"""``adiff serve``: the HTTP service (uvicorn + FastAPI) on 127.0.0.1:8000 by default."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="serve the generation, adaptation and control APIs over HTTP (uvicorn)",
        description=(
            "Serve /v1/plan (dynamically batched), /v1/code/generate, /v1/code/verdict (with sandbox = \"docker\"), "
            "jobs (/v1/jobs: evolve, train, evaluate as resumable child processes), models, health, metrics and admin "
            "routes. Binds to loopback unless the config allows a public bind and API keys exist. Create keys first: "
            "adiff keys create --scope generate."
        ),
    )
    p.add_argument("--config", help="TOML config (see adiff_env/api/config.py for every key and its default)")
    p.add_argument("--host", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default 8000)")
    p.add_argument("--home", help="service data folder: SQLite store and job folders (default $ADIFF_HOME/serve)")
    p.add_argument("--max-batch", type=int, help="dynamic batching: plans per sampler call (1 = off)")
    p.add_argument("--max-wait-ms", type=float, help="dynamic batching: longest wait for a batch to fill")
    p.add_argument("--device", help="torch device the planners and coders run on, e.g. cuda (default: the config's, cpu)")
    p.add_argument("--print-openapi", action="store_true", help="print the OpenAPI document and exit")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from adiff_env.api.config import check_bind, load_config

    config = load_config(args.config, host=args.host, port=args.port, home=args.home)
    batching = {k: v for k, v in (("max_batch", args.max_batch), ("max_wait_ms", args.max_wait_ms)) if v is not None}
    if batching:
        config = dataclasses.replace(config, limits=dataclasses.replace(config.limits, **batching))
    if args.device:
        from adiff_env.devices import check_device

        check_device(args.device)  # a missing GPU fails here, not at the first request
        config = dataclasses.replace(config, device=args.device)
    if args.print_openapi:
        from adiff_env.api.openapi import openapi_document

        print(json.dumps(openapi_document(), indent=2, sort_keys=True))
        return 0
    from adiff_env.api.app import create_app
    from adiff_env.api.store import Store

    check_bind(config, Store(config.db_path).active_keys())
    import uvicorn

    app = create_app(config)
    print(f"adiff serve: http://{config.host}:{config.port} (store {config.db_path})", flush=True)
    uvicorn.run(app, host=config.host, port=config.port, log_level="warning", access_log=False)
    return 0

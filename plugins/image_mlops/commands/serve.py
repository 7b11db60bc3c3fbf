"""``image-mlops serve --endpoint NAME | --model model.tar.gz [--port 8081]``.

Serves a model over HTTP with the SageMaker container contract (``GET /ping``,
``POST /invocations``), running the artifact's own ``code/inference.py``::

    image-mlops serve --endpoint product-image-classifier-production
    curl -s -X POST --data-binary @mug.jpg -H 'Content-Type: image/jpeg' \
        http://127.0.0.1:8081/invocations
"""

from __future__ import annotations

import argparse
from pathlib import Path

from image_mlops.commands import CommandError, local_settings


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve", help="serve an endpoint's model or a model.tar.gz over HTTP (/ping, /invocations)"
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--endpoint", metavar="NAME", help="an endpoint of the local stack")
    source.add_argument("--model", metavar="PATH", type=Path, help="a model.tar.gz on disk")
    parser.add_argument("--port", type=int, default=8081, help="port (default 8081)")
    parser.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from image_mlops.serving.artifact import ArtifactError
    from image_mlops.serving.runtime import EndpointError, get_runtime
    from image_mlops.serving.server import ArtifactInvoker, EndpointInvoker, make_server

    settings = local_settings()
    try:
        if args.model is not None:
            if not args.model.is_file():
                raise CommandError(f"{args.model} does not exist")
            invoker = ArtifactInvoker(args.model, Path(settings.state_dir) / "model-cache")
            what = str(args.model)
        else:
            invoker = EndpointInvoker(settings, args.endpoint, get_runtime(settings))
            if not invoker.ready():
                raise EndpointError(f"endpoint {args.endpoint} does not exist or is not InService")
            what = f"endpoint {args.endpoint}"
    except (ArtifactError, EndpointError) as exc:
        raise CommandError(str(exc)) from exc
    try:
        server = make_server(invoker, args.port, args.host)
    except OSError as exc:
        raise CommandError(f"cannot listen on {args.host}:{args.port}: {exc}") from exc
    print(
        f"serving {what} on http://{args.host}:{args.port} (GET /ping, POST /invocations)",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0

"""``sandbox``: serve the API sandboxes, alone or around a command.

    sandbox list
    sandbox serve csm --port 8401 --seed default --knob task_cap=5
    sandbox run [--api csm --api hubspot] [--seed hubspot=default] -- meltano run ...
    sandbox run --api csm --api zendesk --proxy -- meltano run tap-zendesk target-atlassian-csm

``run`` starts the APIs on their default ports (those ``meltano.yml``'s ``sandbox``
environment points at), seeds them, exports ``SANDBOX_<API>_URL``, runs the command and
stops the servers when it ends, returning the command's exit code. ``--proxy`` also starts
the sandbox HTTPS proxy (mitmdump, see ``sandbox.proxy``) on 8480 with its CA in
``./.csm/proxy``, where the peer taps of the ``sandbox`` environment look, routing the real
hosts of the started APIs to them.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from sandbox.core.server import SandboxServer
from sandbox.proxy import PROXY_PORT, PUBLIC_HOSTS, SandboxProxy, find_mitmdump, routes_for
from sandbox.registry import APIS, available, create_app


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _pairs(items: list[str] | None, *, scoped: bool) -> dict[str, dict[str, Any]] | dict[str, Any]:
    """Parse ``key=value`` (or ``api.key=value`` when scoped) options."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep:
            msg = f"expected key=value, got {item!r}"
            raise SystemExit(msg)
        if scoped:
            api, dot, name = key.partition(".")
            if not dot:
                msg = f"expected api.key=value, got {item!r}"
                raise SystemExit(msg)
            out.setdefault(api, {})[name] = _parse_value(value)
        else:
            out[key] = _parse_value(value)
    return out


def _build(api: str, knobs: dict[str, Any], seed: str | None, params: dict[str, Any]) -> Any:
    app = create_app(api, **knobs)
    if seed:
        summary = app.seed(seed, **params)
        print(f"[sandbox] {api}: seeded {seed!r}: {json.dumps(summary)}", file=sys.stderr)
    return app


def cmd_list(_: argparse.Namespace) -> int:
    """Print the known APIs."""
    ready = set(available())
    for name, entry in APIS.items():
        mark = "" if name in ready else "  (not built yet)"
        print(f"{name:<10} port {entry.default_port}  {entry.description}{mark}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve one API in the foreground."""
    port = args.port if args.port is not None else APIS[args.api].default_port
    app = _build(
        args.api, _pairs(args.knob, scoped=False), args.seed, _pairs(args.seed_param, scoped=False)
    )
    server = SandboxServer(app, host=args.host, port=port)
    print(f"[sandbox] {args.api} listening on {server.url}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


def _start_proxy(stack: ExitStack, port: int, urls: dict[str, str]) -> SandboxProxy:
    """Start the HTTPS proxy for the peer taps, routing the started APIs' public hosts.

    The CA goes to ``./.csm/proxy`` because the ``sandbox`` environment's peer extractors
    read it from there, relative to the project root Meltano runs in. Without mitmproxy the
    peer taps would only fail later with TLS or connection errors, so stop now and say how
    to install it.
    """
    mitmdump = find_mitmdump()
    if mitmdump is None:
        msg = (
            "sandbox run --proxy: mitmdump not found. Install it with `make peers` or "
            'python3 -m venv .venv-proxy && .venv-proxy/bin/pip install "mitmproxy>=11" '
            "(or set SANDBOX_MITMDUMP)"
        )
        raise SystemExit(msg)
    routes = routes_for({api: url for api, url in urls.items() if api in PUBLIC_HOSTS})
    if not routes:
        msg = f"sandbox run --proxy: none of {sorted(urls)} is reached through the proxy"
        raise SystemExit(msg)
    proxy = SandboxProxy(routes, mitmdump=mitmdump, confdir=Path(".csm/proxy"), port=port)
    stack.enter_context(proxy)
    return proxy


def cmd_run(args: argparse.Namespace) -> int:
    """Serve APIs around a command."""
    if not args.command:
        msg = "sandbox run: give the command after --"
        raise SystemExit(msg)
    command = args.command[1:] if args.command[0] == "--" else args.command
    apis = args.api or available()
    seeds = dict(s.partition("=")[::2] for s in args.seed or [])
    knobs = _pairs(args.knob, scoped=True)
    params = _pairs(args.seed_param, scoped=True)
    env = dict(os.environ)
    urls: dict[str, str] = {}
    with ExitStack() as stack:
        for api in apis:
            seed = seeds.get(api, "default") or None
            app = _build(api, knobs.get(api, {}), seed, params.get(api, {}))
            port = 0 if args.free_ports else APIS[api].default_port
            server = stack.enter_context(SandboxServer(app, port=port))
            env[f"SANDBOX_{api.upper()}_URL"] = server.url
            urls[api] = server.url
            print(f"[sandbox] {api} listening on {server.url}", file=sys.stderr, flush=True)
        if args.proxy:
            proxy = _start_proxy(stack, args.proxy_port, urls)
            env["SANDBOX_PROXY_URL"] = proxy.url
            print(
                f"[sandbox] proxy listening on {proxy.url} (CA {proxy.ca_cert}) for "
                f"{', '.join(sorted(proxy.routes))}",
                file=sys.stderr,
                flush=True,
            )
        process = subprocess.Popen(command, env=env)
        try:
            return process.wait()
        except KeyboardInterrupt:
            process.send_signal(signal.SIGINT)
            return process.wait()


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(
        prog="sandbox", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="verb", required=True)

    sub.add_parser("list", help="list the sandboxed APIs").set_defaults(func=cmd_list)

    serve = sub.add_parser("serve", help="serve one API in the foreground")
    serve.add_argument("api", choices=sorted(APIS))
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=None, help="default: the API's default port")
    serve.add_argument("--seed", default=None, help="seed preset to load at start")
    serve.add_argument("--seed-param", action="append", help="seed parameter key=value")
    serve.add_argument("--knob", action="append", help="knob key=value (JSON values)")
    serve.set_defaults(func=cmd_serve)

    run = sub.add_parser("run", help="serve APIs around a command")
    run.add_argument("--api", action="append", choices=sorted(APIS), help="default: all built")
    run.add_argument(
        "--seed", action="append", help="api=preset (default preset 'default'); api= for no seed"
    )
    run.add_argument("--seed-param", action="append", help="api.key=value")
    run.add_argument("--knob", action="append", help="api.knob=value (JSON values)")
    run.add_argument("--free-ports", action="store_true", help="pick free ports")
    run.add_argument(
        "--proxy",
        action="store_true",
        help="also start the HTTPS proxy the peer taps use (needs mitmproxy, `make peers`)",
    )
    run.add_argument(
        "--proxy-port",
        type=int,
        default=PROXY_PORT,
        help=f"the proxy's port (default {PROXY_PORT}, where meltano.yml's sandbox points)",
    )
    run.add_argument("command", nargs=argparse.REMAINDER)
    run.set_defaults(func=cmd_run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``sandbox`` console script."""
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())

"""`mobilei2v app`: the local web page (needs the `app` extra)."""

from __future__ import annotations

import argparse
import importlib.util
import ipaddress
import sys
from pathlib import Path

from ..pipeline import SHIPPED_MODEL, MobileI2VPipeline
from .arguments import HelpFormatter, add_dtype


def add_parser(commands) -> None:
    p = commands.add_parser(
        "app",
        help="a local web page: drop a photo, get a video",
        description="Serve a web page that animates photos with the model: upload or paste a photo, choose "
                    "the motion, watch and download the video. Needs the app extra: "
                    'pip install "mobilei2v[app]".',
        formatter_class=HelpFormatter,
    )
    p.add_argument("--model", type=Path, default=SHIPPED_MODEL,
                   help="a MobileI2VPipeline folder (default: the small model shipped with the package)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on: 127.0.0.1 keeps the page to this computer; 0.0.0.0 opens it to "
                        "the network")
    p.add_argument("--port", type=int, default=7860, help="port to listen on")
    add_dtype(p)
    p.set_defaults(run=run)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name other than localhost may resolve to any interface
        return False


def run(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("gradio") is None:
        raise ValueError('the web app needs Gradio: pip install "mobilei2v[app]"')
    from ..app.server import serve

    pipe = MobileI2VPipeline.from_pretrained(args.model, dtype=args.dtype)
    print(f"precision: {pipe.precision}")
    model_name = "the shipped model" if args.model == SHIPPED_MODEL else str(args.model)
    if not is_loopback(args.host):
        print(f"warning: listening on {args.host}: other computers that can reach it can use this page and "
              f"this computer's CPU, with no login; use --host 127.0.0.1 to keep it local", file=sys.stderr)
    try:
        with serve(pipe, model_name, args.host, args.port) as demo:
            print(f"open http://{args.host}:{args.port} in a browser (Ctrl-C stops the server)")
            demo.block_thread()
    except OSError:  # the port is taken, or the address is not this computer's
        raise ValueError(f"cannot listen on {args.host}:{args.port}: the port is in use or the address is not "
                         f"this computer's; choose another --port or --host") from None
    return 0

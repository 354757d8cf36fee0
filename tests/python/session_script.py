"""What the scripts that play one charging session against a CSMS share (`charge_point_16.py`,
`charge_point_201.py`): their command line, the connection (HTTP Basic auth, security profile 1,
with --password), OCPP's timestamps, and printing what the CSMS answered as one JSON object.

The command line: URL CHARGE_POINT_ID TOKEN METER_START_WH METER_STOP_WH MINUTES [--hours-ago H]
[--kwh-as-wh] [--password PW], and each script's own options.
"""

import argparse
import asyncio
import base64
import datetime as dt
import json

import websockets


def iso(t: dt.datetime) -> str:
    return t.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


def parser(token: str) -> argparse.ArgumentParser:
    """The shared command line; `token` names the id token's argument (`id_tag` in 1.6)."""
    p = argparse.ArgumentParser()
    p.add_argument("url")
    p.add_argument("charge_point_id")
    p.add_argument(token)
    p.add_argument("meter_start", type=int)
    p.add_argument("meter_stop", type=int)
    p.add_argument("minutes", type=int)
    p.add_argument("--hours-ago", type=float, default=0)
    p.add_argument("--kwh-as-wh", action="store_true")
    p.add_argument("--password")
    return p


def connect(args, subprotocol: str):
    """The charger's WebSocket to the CSMS, with Basic auth when the command line gives a password."""
    headers = {}
    if args.password:
        token = base64.b64encode(f"{args.charge_point_id}:{args.password}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    return websockets.connect(f"{args.url}/{args.charge_point_id}", subprotocols=[subprotocol],
                              additional_headers=headers)


def main(p: argparse.ArgumentParser, run) -> int:
    """Runs `run` with the parsed command line and prints what it returns as JSON."""
    args = p.parse_args()
    print(json.dumps(asyncio.run(run(args))))
    return 0

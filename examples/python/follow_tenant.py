#!/usr/bin/env python3
"""Follows a tenant's sessions and invoices on Joule's integrator plane (ADR 043), with nats-py.

    pip install 'nats-py[nkeys]'
    python3 follow_tenant.py --url nats://127.0.0.1:4223 --creds acme.creds \\
        --stream JOULE_T_acme --inbox-prefix _INBOX_acme [--since 2026-12-01T00:00:00Z]

`url`, `stream` and `inbox_prefix` are what `POST /v1/nats-credentials` answers under `nats`, and
`creds` is its `creds` saved to a file. For each domain followed (`--domains`, default
`session,invoice`) the program keeps a durable pull consumer `<durable>-<domain>` on the tenant's
stream, so a restart goes on where it stopped; `--since` starts new consumers at a point in time
instead of at the stream's first event. Each event is printed as one line,
`<occurred_at> <type> <aggregate_id> <data>`, and acknowledged after it was printed: at least once,
so de-duplicate on the event's `id` where that matters.
"""

import argparse
import asyncio
import json

import nats
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy


async def follow(args: argparse.Namespace) -> None:
    nc = await nats.connect(
        args.url, user_credentials=args.creds, inbox_prefix=args.inbox_prefix
    )
    js = nc.jetstream()
    info = await js.stream_info(args.stream)
    # `<ns>.tenant.<tenant>.>`: the domains are the next token.
    root = info.config.subjects[0].removesuffix(".>")
    subscriptions = []
    for domain in args.domains.split(","):
        durable = f"{args.durable}-{domain}"
        config = ConsumerConfig(
            durable_name=durable,
            filter_subject=f"{root}.{domain}.>",
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.BY_START_TIME if args.since else DeliverPolicy.ALL,
            opt_start_time=args.since,
        )
        try:
            await js.consumer_info(args.stream, durable)
        except nats.js.errors.NotFoundError:
            await js.add_consumer(args.stream, config)
        subscriptions.append(await js.pull_subscribe_bind(durable, args.stream))

    seen = 0
    while True:
        for subscription in subscriptions:
            try:
                messages = await subscription.fetch(10, timeout=1)
            except NatsTimeout:
                continue
            for message in messages:
                event = json.loads(message.data)
                print(
                    event.get("occurred_at", "-"),
                    event.get("type", "-"),
                    event.get("aggregate_id", "-"),
                    json.dumps(event.get("data"), separators=(",", ":")),
                    flush=True,
                )
                # Acknowledged once the server confirms it, so a restart does not print it again.
                await message.ack_sync()
                seen += 1
                if seen == args.count:
                    # Every acknowledgement was confirmed: nothing left to drain.
                    await nc.close()
                    return


def main() -> None:
    parser = argparse.ArgumentParser(description="Follow a tenant's Joule events on the integrator plane")
    parser.add_argument("--url", required=True, help="the integrator plane's address (nats.url)")
    parser.add_argument("--creds", required=True, help="the .creds file (creds of the answer, saved)")
    parser.add_argument("--stream", required=True, help="the tenant's stream (nats.stream)")
    parser.add_argument("--inbox-prefix", required=True, help="nats.inbox_prefix")
    parser.add_argument("--domains", default="session,invoice",
                        help="session, invoice, pricing, payment, ledger, registry, charger")
    parser.add_argument("--durable", default="follow-tenant", help="the durable consumers' name prefix")
    parser.add_argument("--since", help="replay from this time (RFC 3339) when the consumers are new")
    parser.add_argument("--count", type=int, default=0, help="stop after this many events (0: never)")
    asyncio.run(follow(parser.parse_args()))


if __name__ == "__main__":
    main()

"""An OCPP 2.0.1 charging station (the mobilityhouse `ocpp` package) that runs one transaction and
records the costs the CSMS shows it: CostUpdated while charging and totalCost in the
TransactionEvent(Ended) answer. Prints one JSON object on stdout.

usage: cost_display_201.py URL CHARGE_POINT_ID ID_TOKEN METER_START_WH METER_MIDDLE_WH METER_STOP_WH
       [--transaction-id ID] [--wait-cost SECONDS]

Started (Transaction.Begin at METER_START_WH, 30 minutes ago), Updated (a periodic register reading
of METER_MIDDLE_WH, 15 minutes ago), then it waits up to --wait-cost seconds for a CostUpdated, and
sends Ended (Transaction.End at METER_STOP_WH, now).
"""

import argparse
import asyncio
import datetime as dt
import json
import sys

import websockets
from ocpp.routing import on
from ocpp.v201 import ChargePoint as BaseChargePoint
from ocpp.v201 import call, call_result


class ChargePoint(BaseChargePoint):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.cost_updates = []
        self.cost_updated = asyncio.Event()

    @on("CostUpdated")
    async def on_cost_updated(self, total_cost, transaction_id, **kwargs):
        self.cost_updates.append({"total_cost": total_cost, "transaction_id": transaction_id})
        self.cost_updated.set()
        return call_result.CostUpdated()


def iso(t: dt.datetime) -> str:
    return t.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


def register(context, wh, at):
    return {"timestamp": iso(at), "sampled_value": [
        {"value": wh, "context": context, "measurand": "Energy.Active.Import.Register",
         "unit_of_measure": {"unit": "Wh"}}]}


async def run(args) -> dict:
    out = {}
    async with websockets.connect(f"{args.url}/{args.charge_point_id}", subprotocols=["ocpp2.0.1"]) as ws:
        cp = ChargePoint(args.charge_point_id, ws)
        listener = asyncio.create_task(cp.start())
        boot = await cp.call(call.BootNotification(
            charging_station={"model": "PyCP-201", "vendor_name": "mobilityhouse-ocpp"}, reason="PowerUp"))
        out["boot_status"] = boot.status
        now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        start, middle = now - dt.timedelta(minutes=30), now - dt.timedelta(minutes=15)
        tx = args.transaction_id
        id_token = {"id_token": args.id_token, "type": "ISO14443"}
        started = await cp.call(call.TransactionEvent(
            event_type="Started", timestamp=iso(start), trigger_reason="Authorized", seq_no=0,
            transaction_info={"transaction_id": tx, "charging_state": "Charging"},
            id_token=id_token, evse={"id": 1, "connector_id": 1},
            meter_value=[register("Transaction.Begin", args.meter_start, start)]))
        out["start_status"] = (started.id_token_info or {}).get("status")
        await cp.call(call.TransactionEvent(
            event_type="Updated", timestamp=iso(middle), trigger_reason="MeterValuePeriodic", seq_no=1,
            transaction_info={"transaction_id": tx},
            meter_value=[register("Sample.Periodic", args.meter_middle, middle)]))
        try:
            await asyncio.wait_for(cp.cost_updated.wait(), timeout=args.wait_cost)
        except asyncio.TimeoutError:
            pass
        out["cost_updates"] = list(cp.cost_updates)
        ended = await cp.call(call.TransactionEvent(
            event_type="Ended", timestamp=iso(now), trigger_reason="StopAuthorized", seq_no=2,
            transaction_info={"transaction_id": tx, "stopped_reason": "Local"}, id_token=id_token,
            meter_value=[register("Transaction.End", args.meter_stop, now)]))
        out["ended_total_cost"] = ended.total_cost
        out["transaction_id"] = tx
        listener.cancel()
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("charge_point_id")
    parser.add_argument("id_token")
    parser.add_argument("meter_start", type=int)
    parser.add_argument("meter_middle", type=int)
    parser.add_argument("meter_stop", type=int)
    parser.add_argument("--transaction-id", default="py-cost-tx-1")
    parser.add_argument("--wait-cost", type=float, default=20)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args))))
    return 0


if __name__ == "__main__":
    sys.exit(main())

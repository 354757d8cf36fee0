"""An OCPP 1.6J charge point played by the mobilityhouse `ocpp` package (an implementation Joule's
authors did not write). It runs one charging session against a CSMS and prints what the CSMS answered
as one JSON object on stdout.

usage: charge_point_16.py URL CHARGE_POINT_ID ID_TAG METER_START_WH METER_STOP_WH MINUTES
       [--duplicate-stop] [--malformed-frame] [--hours-ago H] [--kwh-as-wh] [--password PW]
       [--stop-transaction-id ID] [--no-stop]

--hours-ago H  the session happened H hours ago while the charger was offline: its messages carry
               past timestamps and are sent now
--kwh-as-wh    meter values (MeterValues and transactionData) are sent in kWh but labelled Wh
--password PW  HTTP Basic auth (security profile 1) with user = charge point id
--stop-transaction-id ID  the StopTransaction carries ID (e.g. -1, as a charger whose start was never
               confirmed) instead of the transaction id the CSMS gave
--no-stop      the charger goes away after its meter values: no StopTransaction
"""

import asyncio
import datetime as dt
import json
import sys

from ocpp.v16 import ChargePoint as BaseChargePoint
from ocpp.v16 import call

import session_script
from session_script import iso


class ChargePoint(BaseChargePoint):
    pass


async def run(args) -> dict:
    out = {}
    async with session_script.connect(args, "ocpp1.6") as ws:
        cp = ChargePoint(args.charge_point_id, ws)
        if args.malformed_frame:
            # Not OCPP at all; the CSMS must answer with a CallError and keep the connection (checked
            # by the calls that follow). Sent before the library's receive loop owns the socket.
            await ws.send('[2, "bad-1", "Heartbeat"')
            out["malformed_answer"] = json.loads(await ws.recv())
        listener = asyncio.create_task(cp.start())
        boot = await cp.call(call.BootNotification(charge_point_model="PyCP", charge_point_vendor="mobilityhouse-ocpp"))
        out["boot_status"] = boot.status
        out["heartbeat_interval"] = boot.interval
        await cp.call(call.Heartbeat())
        auth = await cp.call(call.Authorize(id_tag=args.id_tag))
        out["authorize_status"] = auth.id_tag_info["status"]

        stop_time = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(hours=args.hours_ago)
        start_time = stop_time - dt.timedelta(minutes=args.minutes)
        start = await cp.call(call.StartTransaction(
            connector_id=1, id_tag=args.id_tag, meter_start=args.meter_start, timestamp=iso(start_time)))
        tx = start.transaction_id
        out["transaction_id"] = tx
        out["start_status"] = start.id_tag_info["status"]

        middle = start_time + (stop_time - start_time) / 2
        halfway = args.meter_start + (args.meter_stop - args.meter_start) // 2
        # A firmware bug: the register in kWh, labelled Wh.
        halfway_value = str(halfway / 1000) if args.kwh_as_wh else str(halfway)
        await cp.call(call.MeterValues(connector_id=1, transaction_id=tx, meter_value=[{
            "timestamp": iso(middle),
            "sampled_value": [
                {"value": halfway_value, "measurand": "Energy.Active.Import.Register", "unit": "Wh",
                 "context": "Sample.Periodic"},
                {"value": "11000", "measurand": "Power.Active.Import", "unit": "W", "context": "Sample.Periodic"},
            ],
        }]))
        stops = 0 if args.no_stop else 2 if args.duplicate_stop else 1
        stop_id = tx if args.stop_transaction_id is None else args.stop_transaction_id
        for _ in range(stops):
            end_value = str(args.meter_stop / 1000) if args.kwh_as_wh else str(args.meter_stop)
            stop = await cp.call(call.StopTransaction(
                meter_stop=args.meter_stop, timestamp=iso(stop_time), transaction_id=stop_id, id_tag=args.id_tag,
                reason="Local", transaction_data=[{"timestamp": iso(stop_time), "sampled_value": [
                    {"value": end_value, "measurand": "Energy.Active.Import.Register", "unit": "Wh",
                     "context": "Transaction.End"}]}]))
            out.setdefault("stop_status", []).append((stop.id_tag_info or {}).get("status"))
        listener.cancel()
    return out


def main() -> int:
    parser = session_script.parser("id_tag")
    parser.add_argument("--duplicate-stop", action="store_true")
    parser.add_argument("--malformed-frame", action="store_true")
    parser.add_argument("--stop-transaction-id", type=int)
    parser.add_argument("--no-stop", action="store_true")
    return session_script.main(parser, run)


if __name__ == "__main__":
    sys.exit(main())

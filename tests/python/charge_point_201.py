"""An OCPP 2.0.1 charging station played by the mobilityhouse `ocpp` package (an implementation
Joule's authors did not write). It runs one transaction against a CSMS and prints what the CSMS
answered as one JSON object on stdout.

usage: charge_point_201.py URL CHARGE_POINT_ID ID_TOKEN METER_START_WH METER_STOP_WH MINUTES
       [--transaction-id ID] [--out-of-order] [--duplicate-end] [--hours-ago H] [--kwh-as-wh]
       [--password PW] [--wait-remote-stop SECONDS]

--out-of-order     sends Ended first, then Updated, then Started (as a conformance test does)
--duplicate-end    sends the Ended event twice (a retry)
--hours-ago H      the transaction happened H hours ago while offline: events carry past times and
                   offline = true, and are sent now
--kwh-as-wh        the Transaction.End register is sent in kWh but labelled Wh (a firmware bug)
--password PW      HTTP Basic auth (security profile 1) with user = charge point id
--wait-remote-stop after Started, wait up to SECONDS for RequestStopTransaction, accept it, and
                   end the transaction then (stoppedReason Remote)
"""

import asyncio
import base64
import datetime as dt
import sys

from ocpp.routing import on
from ocpp.v201 import ChargePoint as BaseChargePoint
from ocpp.v201 import call, call_result

import session_script
from session_script import iso

OCMF = 'OCMF|{"FV":"1.0","GI":"PyCP","RD":[{"TM":"%s","RV":"%s","RU":"kWh","ST":"G"}]}|{"SA":"ECDSA-secp256r1-SHA256","SD":"3045022100ABCD"}'
PUBLIC_KEY = "3059301306072A8648CE3D020106082A8648CE3D03010703420004ABCDEF"


class ChargePoint(BaseChargePoint):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.remote_stop = asyncio.Event()
        self.remote_stop_request = None

    @on("RequestStopTransaction")
    async def on_request_stop(self, transaction_id, **kwargs):
        self.remote_stop_request = {"transaction_id": transaction_id}
        self.remote_stop.set()
        return call_result.RequestStopTransaction(status="Accepted")

    @on("CostUpdated")
    async def on_cost_updated(self, total_cost, transaction_id, **kwargs):
        return call_result.CostUpdated()


def register(context, wh, at, unit="Wh", signed=None):
    value = {"value": wh, "context": context, "measurand": "Energy.Active.Import.Register",
             "unit_of_measure": {"unit": unit}}
    if signed:
        value["signed_meter_value"] = signed
    return {"timestamp": iso(at), "sampled_value": [value]}


async def run(args) -> dict:
    out = {}
    async with session_script.connect(args, "ocpp2.0.1") as ws:
        out["subprotocol"] = ws.subprotocol
        cp = ChargePoint(args.charge_point_id, ws)
        listener = asyncio.create_task(cp.start())
        boot = await cp.call(call.BootNotification(
            charging_station={"model": "PyCP-201", "vendor_name": "mobilityhouse-ocpp"}, reason="PowerUp"))
        out["boot_status"] = boot.status
        await cp.call(call.Heartbeat())
        auth = await cp.call(call.Authorize(id_token={"id_token": args.id_token, "type": "ISO14443"}))
        out["authorize_status"] = auth.id_token_info["status"]

        now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)

        def queued(at):
            # This script sends a session's events at once: those with past timestamps were queued.
            return (now - at).total_seconds() > 60

        stop_time = now - dt.timedelta(hours=args.hours_ago)
        start_time = stop_time - dt.timedelta(minutes=args.minutes)
        middle = start_time + (stop_time - start_time) / 2
        halfway = args.meter_start + (args.meter_stop - args.meter_start) // 2
        tx = args.transaction_id
        id_token = {"id_token": args.id_token, "type": "ISO14443"}
        evse = {"id": 1, "connector_id": 1}

        def started():
            return call.TransactionEvent(
                event_type="Started", timestamp=iso(start_time), trigger_reason="Authorized", seq_no=0,
                transaction_info={"transaction_id": tx, "charging_state": "Charging"},
                id_token=id_token, evse=evse, offline=queued(start_time),
                meter_value=[register("Transaction.Begin", args.meter_start, start_time)])

        def updated():
            return call.TransactionEvent(
                event_type="Updated", timestamp=iso(middle), trigger_reason="MeterValuePeriodic", seq_no=1,
                transaction_info={"transaction_id": tx}, offline=queued(middle),
                meter_value=[register("Sample.Periodic", halfway, middle)])

        def ended(end_time, reason, seq_no=2):
            end_kwh = args.meter_stop / 1000
            signed = {"signed_meter_data": base64.b64encode((OCMF % (iso(end_time), end_kwh)).encode()).decode(),
                      "signing_method": "ECDSA-secp256r1-SHA256", "encoding_method": "OCMF",
                      "public_key": PUBLIC_KEY}
            if args.kwh_as_wh:
                end = register("Transaction.End", end_kwh, end_time, unit="Wh", signed=signed)
            else:
                end = register("Transaction.End", args.meter_stop, end_time, signed=signed)
            return call.TransactionEvent(
                event_type="Ended", timestamp=iso(end_time), trigger_reason="StopAuthorized", seq_no=seq_no,
                transaction_info={"transaction_id": tx, "stopped_reason": reason}, offline=queued(end_time),
                id_token=id_token, meter_value=[end])

        answers = []
        if args.wait_remote_stop:
            answers.append(await cp.call(started()))
            out["waiting_for_remote_stop"] = True
            await asyncio.wait_for(cp.remote_stop.wait(), timeout=args.wait_remote_stop)
            out["remote_stop_request"] = cp.remote_stop_request
            end_time = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
            answers.append(await cp.call(ended(end_time, "Remote", seq_no=1)))
        else:
            events = [started(), updated(), ended(stop_time, "Local")]
            if args.out_of_order:
                events.reverse()
            if args.duplicate_end:
                events.append(ended(stop_time, "Local"))
            for event in events:
                answers.append(await cp.call(event))
        out["transaction_answers"] = [
            {"id_token_status": (a.id_token_info or {}).get("status"), "total_cost": a.total_cost}
            for a in answers
        ]
        out["transaction_id"] = tx
        out["signed_meter_data"] = base64.b64encode(
            (OCMF % (iso(stop_time), args.meter_stop / 1000)).encode()).decode()
        listener.cancel()
    return out


def main() -> int:
    parser = session_script.parser("id_token")
    parser.add_argument("--transaction-id", default="py-201-tx-1")
    parser.add_argument("--out-of-order", action="store_true")
    parser.add_argument("--duplicate-end", action="store_true")
    parser.add_argument("--wait-remote-stop", type=float, default=0)
    return session_script.main(parser, run)


if __name__ == "__main__":
    sys.exit(main())

"""A hostile charger played by the mobilityhouse `ocpp` package: it sends extreme and malformed
values in every transaction message of OCPP 1.6 (StartTransaction, MeterValues, StopTransaction) or
2.0.1 (TransactionEvent Started / Updated / Ended), with the library's schema validation off, and
prints what the CSMS answered as one JSON object on stdout.

usage: hostile_charger.py URL CHARGE_POINT_ID ID_TAG (--v16 | --v201)

Values: the reproducer of issue 11 (two registers at the ends of a decimal at one time), 1e300,
NaN and Infinity (as JSON words, as Python's encoder writes them), -0, 10^30, huge exponents,
negative power, SoC 1000, 10^9 V, timestamps in 9999 and 0001, strings of 100,000 characters,
100 levels of nesting, 4000 samples in one message (within a 64 KiB frame), and, on a connection
of its own, a frame of 100,000 samples (beyond the gateway's frame limit). Every answer is recorded:
`answers` lists, per message, the action and whether a CALLRESULT came back (`acknowledged`);
`huge_frame` says what became of the 100,000 samples (`closed` or the answer).
"""

import argparse
import asyncio
import datetime as dt
import json
import sys

import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint as BaseChargePoint16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as call_result16
from ocpp.v201 import ChargePoint as BaseChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as call_result201

HUGE = 79228162514264337593543950335
NAN = float("nan")
INF = float("inf")
# Far beyond every text bound (5000), yet two fit in a 64 KiB frame.
LONG = "x" * 20_000


def iso(t: dt.datetime) -> str:
    return t.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


def nested(depth: int):
    value = 1
    for _ in range(depth):
        value = [value]
    return value


class ChargePoint16(BaseChargePoint16):
    @on("DataTransfer")
    async def on_data_transfer(self, vendor_id, **kwargs):
        return call_result16.DataTransfer(status="Accepted")


class ChargePoint201(BaseChargePoint201):
    @on("CostUpdated")
    async def on_cost_updated(self, total_cost, transaction_id, **kwargs):
        return call_result201.CostUpdated()


async def answer_to(ws, unique_id):
    """The CSMS's answer to our frame `unique_id`; CALLs from the CSMS in between (cost display)
    are answered and skipped."""
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), timeout=30))
        if message[0] in (3, 4) and message[1] == unique_id:
            return message
        if message[0] == 2:
            result = {"status": "Accepted"} if message[2] == "DataTransfer" else {}
            await ws.send(json.dumps([3, message[1], result]))


async def stop(listener):
    """Ends the library's receive loop, so that the socket can be read directly."""
    listener.cancel()
    try:
        await listener
    except asyncio.CancelledError:
        pass


class Recorder:
    def __init__(self, cp):
        self.cp = cp
        self.answers = []

    async def send(self, label, payload):
        # `suppress=True`: a CALLERROR comes back as None instead of an exception.
        answer = await self.cp.call(payload, suppress=True, skip_schema_validation=True)
        self.answers.append({"label": label, "action": payload.__class__.__name__,
                             "acknowledged": answer is not None})
        return answer


def sv16(value, measurand="Energy.Active.Import.Register", unit="Wh", **extra):
    return {"value": value, "measurand": measurand, "unit": unit, "context": "Sample.Periodic", **extra}


async def run16(args, ws, out):
    cp = ChargePoint16(args.charge_point_id, ws)
    listener = asyncio.create_task(cp.start())
    r = Recorder(cp)
    boot = await cp.call(call16.BootNotification(charge_point_model="Hostile", charge_point_vendor="py-ocpp"))
    out["boot_status"] = boot.status
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    start_time = now - dt.timedelta(minutes=30)

    async def transaction(label, meter_start, meter_values, meter_stop, stop_time, start_at=start_time,
                          transaction_data=None):
        start = await r.send(f"{label}/start", call16.StartTransaction(
            connector_id=1, id_tag=args.id_tag, meter_start=meter_start, timestamp=iso(start_at)))
        tx = start.transaction_id if start else -1
        out.setdefault("transaction_ids", []).append(tx)
        for i, mv in enumerate(meter_values):
            await r.send(f"{label}/meter{i}", call16.MeterValues(
                connector_id=1, transaction_id=tx, meter_value=mv))
        kwargs = {}
        if transaction_data is not None:
            kwargs["transaction_data"] = transaction_data
        await r.send(f"{label}/stop", call16.StopTransaction(
            meter_stop=meter_stop, timestamp=stop_time, transaction_id=tx, id_tag=args.id_tag, **kwargs))

    at = iso(start_time + dt.timedelta(minutes=10))
    # 1. The reproducer of issue 11, then every other kind of value in MeterValues.
    await transaction("reproducer", 1000, [
        [{"timestamp": at, "sampled_value": [sv16(str(-HUGE)), sv16(str(HUGE))]}],
        [{"timestamp": at, "sampled_value": [sv16("1e300"), sv16("NaN"), sv16("Infinity"), sv16("-0"),
                                             sv16("1e1000000"), sv16(str(10 ** 30))]}],
        [{"timestamp": at, "sampled_value": [
            sv16("-7400", "Power.Active.Import", "W"), sv16("1000", "SoC", "Percent"),
            sv16(str(10 ** 9), "Voltage", "V"), sv16("1e300", "Current.Import", "A"),
            sv16("5", LONG, LONG), sv16(LONG)]}],
        [{"timestamp": "9999-12-31T23:59:59Z", "sampled_value": [sv16("2000")]},
         {"timestamp": "0001-01-01T00:00:00Z", "sampled_value": [sv16("2500")]}],
        [{"timestamp": at, "sampled_value": [sv16("3000", vendorExtension=nested(100))]}],
        [{"timestamp": at, "sampled_value": [{"value": "1"}] * 4000}],
    ], 5000, iso(now))
    # 2. Registers at the ends of a decimal, as JSON numbers, in the start and the stop.
    await transaction("decimal-ends", -HUGE, [], HUGE, iso(now), start_at=start_time + dt.timedelta(minutes=1))
    # 3. Non-finite numbers as JSON words in the start and the stop, a stop in the year 9999, and
    #    transactionData with 10^30 and a time in the year 1.
    await transaction("non-finite", NAN, [], INF, "9999-12-31T23:59:59Z",
                      start_at=start_time + dt.timedelta(minutes=2), transaction_data=[
        {"timestamp": "0001-01-01T00:00:00Z", "sampled_value": [sv16(str(10 ** 30))]}])
    # 4. 1e300 and -0 as numbers, a start in the year 1.
    await transaction("exponents", 1e300, [], -0.0, iso(now), start_at=dt.datetime(1, 1, 1, tzinfo=dt.timezone.utc))
    await stop(listener)
    return r.answers


def sv201(value, measurand="Energy.Active.Import.Register", unit="Wh", context="Sample.Periodic", **extra):
    return {"value": value, "measurand": measurand, "context": context, "unit_of_measure": {"unit": unit},
            **extra}


async def run201(args, ws, out):
    cp = ChargePoint201(args.charge_point_id, ws)
    listener = asyncio.create_task(cp.start())
    r = Recorder(cp)
    boot = await cp.call(call201.BootNotification(
        charging_station={"model": "Hostile", "vendor_name": "py-ocpp"}, reason="PowerUp"))
    out["boot_status"] = boot.status
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    start_time = now - dt.timedelta(minutes=30)
    at = iso(start_time + dt.timedelta(minutes=10))
    id_token = {"id_token": args.id_tag, "type": "ISO14443"}

    def event(kind, tx, seq, meter_value, timestamp=None, **extra):
        extra.setdefault("transaction_info", {"transaction_id": tx})
        return call201.TransactionEvent(
            event_type=kind, timestamp=timestamp or at, trigger_reason="MeterValuePeriodic", seq_no=seq,
            meter_value=meter_value, **extra)

    # 1. Every kind of value in Started / Updated / Ended of one transaction; Ended's seqNo is the
    #    largest there is, so the session waits for the seqNos between and completes overdue.
    tx = "hostile-201-1"
    await r.send("values/started", event("Started", tx, 0, [
        {"timestamp": iso(start_time), "sampled_value": [sv201(NAN, context="Transaction.Begin")]}],
        timestamp=iso(start_time), id_token=id_token, evse={"id": 1, "connector_id": 1}))
    await r.send("values/reproducer", event("Updated", tx, 1, [
        {"timestamp": at, "sampled_value": [sv201(-HUGE), sv201(HUGE)]}]))
    await r.send("values/exponents", event("Updated", tx, 2, [
        {"timestamp": at, "sampled_value": [sv201(1e300), sv201(INF), sv201(-INF), sv201(-0.0),
                                            sv201(10 ** 30), sv201(1, unit_of_measure={"unit": "Wh",
                                                                                       "multiplier": 2 ** 40})]}]))
    await r.send("values/measurands", event("Updated", tx, 3, [
        {"timestamp": at, "sampled_value": [
            sv201(-7400, "Power.Active.Import", "W"), sv201(1000, "SoC", "Percent"),
            sv201(10 ** 9, "Voltage", "V"), sv201(NAN, "Current.Import", "A"),
            sv201(5, LONG, LONG)]}]))
    await r.send("values/times", event("Updated", tx, 4, [
        {"timestamp": "9999-12-31T23:59:59Z", "sampled_value": [sv201(2000)]},
        {"timestamp": "0001-01-01T00:00:00Z", "sampled_value": [sv201(2500)]}],
        timestamp="9999-12-31T23:59:59Z"))
    await r.send("values/many-samples", event("Updated", tx, 5, [
        {"timestamp": at, "sampled_value": [{"value": 1}] * 4000}]))
    await r.send("values/nested", event("Updated", tx, 6, [
        {"timestamp": at, "sampled_value": [sv201(3000, custom_data={"vendor_id": "x", "deep": nested(100)})]}]))
    await r.send("values/ended", event("Ended", tx, 4294967295, [
        {"timestamp": iso(now), "sampled_value": [sv201(10 ** 30, context="Transaction.End")]}],
        timestamp=iso(now), id_token={"id_token": LONG, "type": "ISO14443"},
        transaction_info={"transaction_id": tx, "stopped_reason": LONG}))
    # 2. A transaction id of 100,000 characters through Started and Ended.
    await r.send("long-id/started", event("Started", LONG, 0, [
        {"timestamp": iso(start_time), "sampled_value": [sv201(1000, context="Transaction.Begin")]}],
        timestamp=iso(start_time), id_token=id_token))
    await r.send("long-id/ended", event("Ended", LONG, 1, [
        {"timestamp": iso(now), "sampled_value": [sv201(INF, context="Transaction.End")]}],
        timestamp=iso(now)))
    await stop(listener)
    return r.answers


async def run(args) -> dict:
    out = {}
    subprotocol = "ocpp1.6" if args.v16 else "ocpp2.0.1"
    # Frames of several megabytes are sent (100,000 samples).
    async with websockets.connect(f"{args.url}/{args.charge_point_id}", subprotocols=[subprotocol],
                                  max_size=None) as ws:
        runner = run16 if args.v16 else run201
        out["answers"] = await runner(args, ws, out)
        # A frame nested beyond any parser's depth: answered with a CALLERROR carrying its id.
        await ws.send('[2,"too-deep","Heartbeat",{"a":' + "[" * 10_000 + "]" * 10_000 + "}]")
        out["too_deep_answer"] = await answer_to(ws, "too-deep")
    # 100,000 samples in one frame, beyond the gateway's frame limit, on a connection of its own.
    async with websockets.connect(f"{args.url}/{args.charge_point_id}", subprotocols=[subprotocol],
                                  max_size=None) as ws:
        if args.v16:
            payload = {"connectorId": 1, "transactionId": 1,
                       "meterValue": [{"timestamp": iso(dt.datetime.now(dt.timezone.utc)),
                                       "sampledValue": [{"value": "1"}] * 100_000}]}
            frame = [2, "huge-1", "MeterValues", payload]
        else:
            payload = {"eventType": "Updated", "timestamp": iso(dt.datetime.now(dt.timezone.utc)),
                       "triggerReason": "MeterValuePeriodic", "seqNo": 7,
                       "transactionInfo": {"transactionId": "hostile-201-1"},
                       "meterValue": [{"timestamp": iso(dt.datetime.now(dt.timezone.utc)),
                                       "sampledValue": [{"value": 1}] * 100_000}]}
            frame = [2, "huge-1", "TransactionEvent", payload]
        try:
            await ws.send(json.dumps(frame))
            out["huge_frame"] = await answer_to(ws, "huge-1")
        except (websockets.exceptions.ConnectionClosed, ConnectionError):
            out["huge_frame"] = "closed"
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("url")
    p.add_argument("charge_point_id")
    p.add_argument("id_tag")
    v = p.add_mutually_exclusive_group(required=True)
    v.add_argument("--v16", action="store_true")
    v.add_argument("--v201", action="store_true")
    args = p.parse_args()
    out = asyncio.run(run(args))
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()

//! A charger's text frame through the gateway's reading of it: the OCPP-J frame, then the payload of
//! every transaction message of 1.6 and 2.0.1 and the meter samples in it. Nothing may panic; every
//! problem must come back as a `FrameError`, a `PayloadError` or a flagged problem.
#![no_main]

use chrono::{TimeZone, Utc};
use joule_gateway::ocpp::frame::{self, Frame};
use joule_gateway::ocpp::{meter, v16, v201};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(Frame::Call(call)) = frame::parse(text) else {
        return;
    };
    let now = Utc.with_ymd_and_hms(2026, 12, 7, 0, 0, 0).unwrap();
    let p = &call.payload;
    let mut samples = Vec::new();
    match call.action.as_str() {
        "BootNotification" => {
            let _ = v16::BootNotification::parse(p);
            let _ = v201::BootNotification::parse(p);
        }
        "StatusNotification" => {
            let _ = v16::StatusNotification::parse(p);
            let _ = v201::StatusNotification::parse(p);
        }
        "Authorize" => {
            let _ = v16::Authorize::parse(p);
        }
        "StartTransaction" => {
            let _ = v16::StartTransaction::parse(p, now);
        }
        "StopTransaction" => {
            if let Ok(m) = v16::StopTransaction::parse(p, now) {
                samples.extend(m.transaction_data);
            }
        }
        "MeterValues" => {
            if let Ok(m) = v16::MeterValues::parse(p, now) {
                samples.extend(m.samples);
            }
            if let Ok(m) = v201::MeterValues::parse(p, now) {
                samples.extend(m.samples);
            }
        }
        "TransactionEvent" => {
            if let Ok(m) = v201::TransactionEvent::parse(p, now) {
                samples.extend(m.samples);
            }
        }
        _ => {}
    }
    let normalised: Vec<_> = samples.iter().map(meter::normalise).collect();
    let _ = meter::register_in_context(&normalised, meter::DEFAULT_CONTEXT);
    let _ = meter::fingerprint(&normalised);
});

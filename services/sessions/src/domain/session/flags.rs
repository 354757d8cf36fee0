//! Review flags. They never block billing; they tell an operator where to look.

pub const STOP_WITHOUT_START: &str = "stop_without_start";
pub const START_AFTER_STOP: &str = "start_after_stop";
pub const METER_REGRESSION: &str = "meter_regression";
pub const UNKNOWN_TOKEN: &str = "unknown_token";
pub const NO_METER_START: &str = "no_meter_start";
pub const NO_METER_STOP: &str = "no_meter_stop";
pub const KWH_LABELLED_AS_WH: &str = "kwh_labelled_as_wh";
pub const NEGATIVE_METER_VALUE: &str = "negative_meter_value";
pub const IMPLAUSIBLE_POWER: &str = "implausible_power";
pub const SEQUENCE_GAP: &str = "sequence_gap";
pub const EVENT_AFTER_END: &str = "event_after_end";
pub const DUPLICATE_END: &str = "duplicate_end";
/// No message for the session within the inactivity limit: closed from its last reading.
pub const CLOSED_FOR_INACTIVITY: &str = "closed_for_inactivity";
/// A stop for a session already closed for inactivity; recorded, not billed again.
pub const STOP_AFTER_INACTIVITY_CLOSE: &str = "stop_after_inactivity_close";
/// A 1.6 stop with an unusable transaction id (-1, never issued) that was matched to the
/// charger's open transaction (set by the intake, [`crate::matching`]).
pub const STOP_MATCHED_TO_OPEN_TRANSACTION: &str = "stop_matched_to_open_transaction";
/// A value outside its domain (`joule_domain::bounds`): kept in the flag's detail, left out
/// of every computation.
pub const VALUE_OUT_OF_RANGE: &str = joule_domain::bounds::VALUE_OUT_OF_RANGE;

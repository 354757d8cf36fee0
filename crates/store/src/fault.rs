//! Fault injection for the crash tests: a process that exits abruptly at a chosen point, as a
//! `kill -9` or a lost node would stop it, so a test can check that the restart loses and doubles
//! nothing.
//!
//! Compiled in only with the `fault-injection` feature, which the end-to-end tests' crate enables;
//! the `joule` binary is built without it, so no environment variable can make a production process
//! exit.

/// The relay exits after a batch holding this event type (for example `SessionCompleted`) was
/// committed by its aggregate and before it is published.
pub const CRASH_BEFORE_PUBLISH: &str = "JOULE_FAULT_CRASH_BEFORE_PUBLISH";
/// The relay exits after this event type was published and before its outbox row is removed, so
/// the restart publishes it again.
pub const CRASH_AFTER_PUBLISH: &str = "JOULE_FAULT_CRASH_AFTER_PUBLISH";
/// The payments engine exits after the provider answered this operation (`authorize`, `capture`,
/// ...) and before the answer is recorded.
pub const PAYMENTS_CRASH_AFTER_PROVIDER: &str = "JOULE_FAULT_PAYMENTS_CRASH_AFTER_PROVIDER";

/// The value the fault `variable` is armed with, if any. Always `None` without the feature.
pub fn armed(variable: &str) -> Option<String> {
    if cfg!(feature = "fault-injection") {
        std::env::var(variable).ok().filter(|v| !v.is_empty())
    } else {
        None
    }
}

/// Exits the process at once, without running destructors or flushing anything but this log line.
pub fn crash(point: &str, detail: &str) -> ! {
    tracing::error!(point, detail, "fault injection: exiting abruptly");
    std::process::exit(137)
}

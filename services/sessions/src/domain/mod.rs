//! The sessions service's aggregate: one [`session::ChargingSession`] per charger transaction.

pub mod session;

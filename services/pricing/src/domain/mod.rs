//! Pricing's aggregates: [`tariff::Tariff`] (a tariff with its versions and where it applies) and
//! [`priced_session::PricedSession`] (the price of one charging session and every change of it).

pub mod priced_session;
pub mod tariff;

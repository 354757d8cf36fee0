//! The sessions service's durable consumers, one module each: [`charger_events`] (the sessions
//! themselves), [`session_priced`] and [`invoice_issued`] (copies of billing results onto the read
//! model).

pub mod charger_events;
pub mod invoice_issued;
pub mod session_priced;

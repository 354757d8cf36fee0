//! What the relay does with invoicing's events ([`outbox`]), and the read tables it keeps:
//! [`invoices`] (which the gRPC API answers from) and [`adjustment_notes`].

pub mod adjustment_notes;
pub mod invoices;
pub mod outbox;

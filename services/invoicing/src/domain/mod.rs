//! Invoicing's documents: the receipt of a priced session ([`invoice`]), the adjustment note of a
//! re-rating ([`adjustment`]), and the arithmetic both are issued with ([`receipt`]). Their numbers
//! come from [`crate::series`].

pub mod adjustment;
pub mod invoice;
pub mod receipt;

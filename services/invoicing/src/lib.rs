//! Invoicing: receipts and invoices with gapless numbering.

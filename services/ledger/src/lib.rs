//! Ledger: event-sourced double-entry journal and its trial balance.

//! Charging sessions: an event-sourced session per transaction, built from charger events.

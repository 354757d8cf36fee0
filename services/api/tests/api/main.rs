//! Integration tests of the REST API against real PostgreSQL and NATS (a fresh database and
//! namespace per test). One binary, several modules, so the workspace links it once.

mod access_matrix;
mod auth;
mod charge_point;
mod chargers;
mod dead_letters;
mod errors;
mod fleets;
mod general_ledger;
mod generated_client;
mod health;
mod helpers;
mod idempotency;
mod identity;
mod limits;
mod lists;
mod nats_credentials;
mod oauth;
mod openapi;
mod references;
mod registry;
mod reservations;
mod session_cost;
mod session_holders;
mod tariffs;
mod transactions;
mod transport_limits;
mod webhooks;

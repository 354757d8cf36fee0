//! Public REST API for integrators, and the registry of sites, chargers, accounts and tokens.

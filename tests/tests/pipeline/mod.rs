//! The billing pipeline in one process and in memory, for `pipeline_properties.rs`: generated
//! chargers ([`charger`]) and their frames ([`frames`]), the stages from frame to journal entry ([`stages`]), and the tariffs
//! sessions are priced with ([`tariffs`]).

pub mod charger;
pub mod frames;
pub mod stages;
pub mod tariffs;

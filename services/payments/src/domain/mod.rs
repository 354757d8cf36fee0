//! The aggregates, one module each: [`intent::PaymentIntent`] (the money movements of one session or
//! order), [`methods::AccountMethods`] (an account's saved methods), [`wallet::Wallet`] (a prepaid
//! balance) and [`settlement::SettlementRecord`] (a provider's settlement line).

pub mod intent;
pub mod methods;
pub mod settlement;
pub mod wallet;

//! The services this binary can run.

use joule_runtime::ServiceDef;

pub const ALL: [ServiceDef; 8] = [
    joule_gateway::SERVICE,
    joule_sessions::SERVICE,
    joule_pricing::SERVICE,
    joule_invoicing::SERVICE,
    joule_ledger::SERVICE,
    joule_api::SERVICE,
    joule_payments::SERVICE,
    joule_webhooks::SERVICE,
];

pub fn select(all: bool, names: &[String]) -> Result<Vec<ServiceDef>, String> {
    if all {
        return Ok(ALL.to_vec());
    }
    if names.is_empty() {
        return Err("name services to run, or --all".into());
    }
    names
        .iter()
        .map(|name| {
            ALL.iter().find(|s| s.name == name).copied().ok_or_else(|| {
                let known: Vec<_> = ALL.iter().map(|s| s.name).collect();
                format!("unknown service {name:?}; known: {}", known.join(", "))
            })
        })
        .collect()
}

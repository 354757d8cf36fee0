//! Integrators' endpoints: what a valid one is ([`check_url`], [`check_event_types`]) and their
//! table ([`store`]).

pub mod store;

use std::net::IpAddr;

use joule_config::Settings;

use crate::events;

joule_domain::uuid_id!(
    /// A webhook endpoint of a tenant.
    EndpointId,
    "webhook_endpoint"
);

/// The longest endpoint URL and description.
pub const MAX_URL_CHARS: usize = 2048;
pub const MAX_DESCRIPTION_CHARS: usize = 1024;

/// A value a caller gave that is not accepted: `<field>: <reason>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct Invalid {
    pub field: &'static str,
    pub reason: String,
}

fn invalid(field: &'static str, reason: impl Into<String>) -> Invalid {
    Invalid {
        field,
        reason: reason.into(),
    }
}

/// The platform's own `host:port` addresses, which no endpoint may name: a webhook must not make
/// the platform call itself.
#[derive(Debug, Clone, Default)]
pub struct OwnAddrs(Vec<(String, u16)>);

impl OwnAddrs {
    /// The listen addresses in `settings` and `webhooks_refused_addrs`.
    pub fn from_settings(settings: &Settings) -> Self {
        let listens = [
            settings.api_addr.as_str(),
            settings.grpc_addr.as_str(),
            settings.ocpp_addr.as_str(),
            settings.payments_webhook_addr.as_str(),
        ];
        let extra = settings.webhooks_refused_addrs.split(',');
        Self(
            listens
                .into_iter()
                .chain(extra)
                .filter_map(|a| {
                    let (host, port) = a.trim().rsplit_once(':')?;
                    let port = port.parse().ok().filter(|p| *p != 0)?;
                    Some((normal_host(host), port))
                })
                .collect(),
        )
    }

    /// Whether `host:port` is one of them. A listener on every interface (`0.0.0.0`, `[::]`) or on
    /// loopback is reached through any loopback name.
    fn contains(&self, host: &str, port: u16) -> bool {
        let host = normal_host(host);
        self.0
            .iter()
            .any(|(own, p)| *p == port && (*own == host || (is_local(own) && is_local(&host))))
    }
}

fn normal_host(host: &str) -> String {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

fn is_local(host: &str) -> bool {
    host == "localhost"
        || host.ends_with(".localhost")
        || host
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback() || ip.is_unspecified())
}

/// `raw` as an endpoint URL: absolute `http` or `https`, with a host, at most
/// [`MAX_URL_CHARS`], no user or password, and not one of the platform's own addresses.
pub fn check_url(raw: &str, own: &OwnAddrs) -> Result<String, Invalid> {
    const FIELD: &str = "url";
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(invalid(FIELD, "is required"));
    }
    if raw.chars().count() > MAX_URL_CHARS {
        return Err(invalid(
            FIELD,
            format!("is longer than {MAX_URL_CHARS} characters"),
        ));
    }
    let url = reqwest::Url::parse(raw)
        .map_err(|e| invalid(FIELD, format!("is not an absolute URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(FIELD, "must be an http or https URL"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(FIELD, "must not hold a user name or password"));
    }
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| invalid(FIELD, "has no host"))?;
    let port = url
        .port_or_known_default()
        .ok_or_else(|| invalid(FIELD, "has no port"))?;
    if own.contains(host, port) {
        return Err(invalid(
            FIELD,
            format!("{host}:{port} is an address of the platform itself"),
        ));
    }
    Ok(url.to_string())
}

/// `given` as an endpoint's event types: at least one, each a deliverable event type
/// ([`events::EVENT_TYPES`]) or `*` (then alone), without repeats (dropped).
pub fn check_event_types(given: &[String]) -> Result<Vec<String>, Invalid> {
    const FIELD: &str = "event_types";
    let mut types: Vec<String> = Vec::new();
    for t in given {
        let t = t.trim();
        if t != events::ALL && !events::is_deliverable(t) {
            return Err(invalid(
                FIELD,
                format!(
                    "{t:?} is not an integration event type (such as joule.v1.SessionCompleted) or *"
                ),
            ));
        }
        if !types.iter().any(|known| known == t) {
            types.push(t.to_owned());
        }
    }
    match types.as_slice() {
        [] => Err(invalid(FIELD, "name at least one event type, or *")),
        [_] => Ok(types),
        _ if types.iter().any(|t| t == events::ALL) => {
            Err(invalid(FIELD, "* stands for every type: give it alone"))
        }
        _ => Ok(types),
    }
}

pub fn check_description(given: &str) -> Result<String, Invalid> {
    if given.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(invalid(
            "description",
            format!("is longer than {MAX_DESCRIPTION_CHARS} characters"),
        ));
    }
    Ok(given.trim().to_owned())
}

#[cfg(test)]
mod tests;

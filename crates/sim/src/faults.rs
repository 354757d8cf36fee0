//! What goes wrong in the field, as configurable per-session probabilities, and the mix of OCPP
//! versions in a fleet. Probabilities are drawn per session; every fault is something real chargers
//! do (see the OCPP field notes): the gateway must acknowledge all of it.

use std::fmt;
use std::str::FromStr;

use rand::Rng;

use crate::ocpp::Version;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The start and the stop (2.0.1: Started and Ended) are sent twice, the second time with a new
    /// message id, as a charger does that got no answer in time.
    Duplicate,
    /// 1.6: MeterValues in reverse order; 2.0.1: Ended first, the other events shuffled.
    OutOfOrder,
    /// The session happened hours ago while the charger was offline and is sent now: backdated
    /// timestamps, no StatusNotification/Authorize, 2.0.1 `offline: true`.
    Offline,
    /// One periodic sample below the previous one, and a stop register below the start.
    MeterRegression,
    /// Energy sent in kWh, correctly labelled `kWh`.
    KwhUnit,
    /// Energy sent in kWh but labelled `Wh` (a common firmware bug).
    KwhAsWh,
    /// 1.6: the start's answer is ignored and MeterValues/StopTransaction carry `transactionId: -1`.
    NegativeTransactionId,
    /// The charger drops the connection after the start and reconnects before the meter values.
    Reconnect,
    /// 1.6: connectorId, meterStart and meterStop as JSON strings.
    NumbersAsStrings,
}

impl Fault {
    pub const ALL: [Fault; 9] = [
        Fault::Duplicate,
        Fault::OutOfOrder,
        Fault::Offline,
        Fault::MeterRegression,
        Fault::KwhUnit,
        Fault::KwhAsWh,
        Fault::NegativeTransactionId,
        Fault::Reconnect,
        Fault::NumbersAsStrings,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Fault::Duplicate => "duplicate",
            Fault::OutOfOrder => "out-of-order",
            Fault::Offline => "offline",
            Fault::MeterRegression => "meter-regression",
            Fault::KwhUnit => "kwh-unit",
            Fault::KwhAsWh => "kwh-as-wh",
            Fault::NegativeTransactionId => "negative-txid",
            Fault::Reconnect => "reconnect",
            Fault::NumbersAsStrings => "numbers-as-strings",
        }
    }
}

/// The faults one session has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultSet(u16);

impl FaultSet {
    pub fn with(mut self, fault: Fault) -> Self {
        self.0 |= 1 << fault as u16;
        self
    }

    pub fn has(self, fault: Fault) -> bool {
        self.0 & (1 << fault as u16) != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// Per-session probability of each fault, written `duplicate=0.05,offline=0.01` (or `all=0.02`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultMix {
    probabilities: [f64; Fault::ALL.len()],
}

impl FaultMix {
    pub fn none() -> Self {
        Self::default()
    }

    pub fn probability(&self, fault: Fault) -> f64 {
        self.probabilities[fault as usize]
    }

    pub fn set(&mut self, fault: Fault, probability: f64) {
        self.probabilities[fault as usize] = probability;
    }

    /// Draws the faults of one session.
    pub fn draw(&self, rng: &mut impl Rng) -> FaultSet {
        let mut set = FaultSet::default();
        for fault in Fault::ALL {
            let p = self.probability(fault);
            if p > 0.0 && rng.random_bool(p.min(1.0)) {
                set = set.with(fault);
            }
        }
        // Kilowatt-hours are either labelled right or wrong, not both.
        if set.has(Fault::KwhUnit) && set.has(Fault::KwhAsWh) {
            set.0 &= !(1 << Fault::KwhUnit as u16);
        }
        set
    }
}

impl FromStr for FaultMix {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut mix = FaultMix::none();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, p) = part
                .split_once('=')
                .ok_or_else(|| format!("fault {part:?}: write name=probability"))?;
            let p: f64 = p
                .trim()
                .parse()
                .map_err(|_| format!("fault {name}: probability {p:?} is not a number"))?;
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("fault {name}: probability {p} is not within 0..=1"));
            }
            let name = name.trim();
            if name == "all" {
                mix.probabilities = [p; Fault::ALL.len()];
                continue;
            }
            let fault = Fault::ALL
                .into_iter()
                .find(|f| f.name() == name)
                .ok_or_else(|| {
                    let known: Vec<_> = Fault::ALL.iter().map(|f| f.name()).collect();
                    format!("unknown fault {name:?}; known: all, {}", known.join(", "))
                })?;
            mix.set(fault, p);
        }
        Ok(mix)
    }
}

impl fmt::Display for FaultMix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<_> = Fault::ALL
            .iter()
            .filter(|fault| self.probability(**fault) > 0.0)
            .map(|fault| format!("{}={}", fault.name(), self.probability(*fault)))
            .collect();
        if parts.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&parts.join(","))
        }
    }
}

/// The share of 2.0.1 chargers in a fleet, written `1.6=0.7,2.0.1=0.3` (weights, normalised) or
/// just `1.6` / `2.0.1`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VersionMix {
    /// Per mille of chargers that speak 2.0.1.
    v201_per_mille: u32,
}

impl VersionMix {
    pub fn only(version: Version) -> Self {
        Self {
            v201_per_mille: match version {
                Version::V16 => 0,
                Version::V201 => 1000,
            },
        }
    }

    /// The version of charger `index`: a deterministic spread, so that any prefix of a fleet has
    /// about the configured share and reruns give each charger the same version.
    pub fn version_of(self, index: u64) -> Version {
        // A multiplicative hash spreads consecutive indices over 0..1000.
        let slot = (index.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) % 1000;
        if slot < u64::from(self.v201_per_mille) {
            Version::V201
        } else {
            Version::V16
        }
    }
}

impl FromStr for VersionMix {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if let Ok(version) = s.trim().parse::<Version>() {
            return Ok(Self::only(version));
        }
        let (mut w16, mut w201) = (0.0, 0.0);
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (version, weight) = part
                .split_once('=')
                .ok_or_else(|| format!("mix {part:?}: write version=weight"))?;
            let weight: f64 = weight
                .trim()
                .parse()
                .map_err(|_| format!("mix {version}: weight {weight:?} is not a number"))?;
            if weight < 0.0 || !weight.is_finite() {
                return Err(format!("mix {version}: weight {weight} is negative"));
            }
            match version.trim().parse::<Version>()? {
                Version::V16 => w16 += weight,
                Version::V201 => w201 += weight,
            }
        }
        let total: f64 = w16 + w201;
        if total <= 0.0 {
            return Err(format!("mix {s:?}: weights add up to nothing"));
        }
        Ok(Self {
            v201_per_mille: (w201 / total * 1000.0).round() as u32,
        })
    }
}

impl fmt::Display for VersionMix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "1.6={:.3},2.0.1={:.3}",
            f64::from(1000 - self.v201_per_mille) / 1000.0,
            f64::from(self.v201_per_mille) / 1000.0
        )
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    use super::*;

    #[test]
    fn fault_mixes_parse_and_name_bad_parts() {
        let mix: FaultMix = "duplicate=0.5, offline=1".parse().unwrap();
        assert_eq!(mix.probability(Fault::Duplicate), 0.5);
        assert_eq!(mix.probability(Fault::Offline), 1.0);
        assert_eq!(mix.probability(Fault::Reconnect), 0.0);
        let all: FaultMix = "all=0.1".parse().unwrap();
        assert!(Fault::ALL.iter().all(|f| all.probability(*f) == 0.1));
        assert!(
            "duplicate"
                .parse::<FaultMix>()
                .unwrap_err()
                .contains("name=probability")
        );
        assert!(
            "dupe=0.1"
                .parse::<FaultMix>()
                .unwrap_err()
                .contains("unknown fault")
        );
        assert!(
            "offline=2"
                .parse::<FaultMix>()
                .unwrap_err()
                .contains("0..=1")
        );
        assert_eq!("".parse::<FaultMix>().unwrap(), FaultMix::none());
    }

    #[test]
    fn certain_faults_are_always_drawn_and_absent_ones_never() {
        let mix: FaultMix = "duplicate=1,reconnect=0".parse().unwrap();
        let mut rng = SmallRng::seed_from_u64(7);
        for _ in 0..100 {
            let set = mix.draw(&mut rng);
            assert!(set.has(Fault::Duplicate));
            assert!(!set.has(Fault::Reconnect));
        }
        let both: FaultMix = "kwh-unit=1,kwh-as-wh=1".parse().unwrap();
        let set = both.draw(&mut rng);
        assert!(set.has(Fault::KwhAsWh) && !set.has(Fault::KwhUnit));
    }

    #[test]
    fn version_mixes_spread_chargers() {
        let mix: VersionMix = "1.6=3,2.0.1=1".parse().unwrap();
        let v201 = (0..10_000)
            .filter(|i| mix.version_of(*i) == Version::V201)
            .count();
        assert!((2_200..2_800).contains(&v201), "{v201}");
        let only: VersionMix = "2.0.1".parse().unwrap();
        assert!((0..100).all(|i| only.version_of(i) == Version::V201));
        assert!("1.6=0".parse::<VersionMix>().is_err());
        assert!("3.0=1".parse::<VersionMix>().is_err());
    }
}

//! The InvoiceSeries aggregate: gapless sequential invoice numbers, one series per tenant and calendar
//! year. Numbers come from the event stream of the series itself, so two concurrent allocations
//! conflict on the same event sequence and one of them retries: a number is never handed out twice.
//! The series remembers which invoice got which number, so asking again for the same invoice (a
//! redelivery, a crash between allocation and issue) returns the same number instead of burning a new
//! one.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use cqrs_es::DomainEvent;
use joule_domain::{InvoiceId, TenantId};
use joule_store::Decider;
use serde::{Deserialize, Serialize};

/// An invoice number: `<YYYY>-<sequence>`, the sequence zero-padded to six digits (`2026-000001`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct InvoiceNumber {
    pub year: i32,
    pub sequence: u64,
}

impl fmt::Display for InvoiceNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:06}", self.year, self.sequence)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid invoice number {0:?}: expected YYYY-NNNNNN")]
pub struct InvoiceNumberError(pub String);

impl FromStr for InvoiceNumber {
    type Err = InvoiceNumberError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || InvoiceNumberError(s.to_owned());
        let (year, sequence) = s.split_once('-').ok_or_else(err)?;
        let digits = |p: &str| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit());
        if year.len() != 4 || sequence.len() < 6 || !digits(year) || !digits(sequence) {
            return Err(err());
        }
        let number = InvoiceNumber {
            year: year.parse().map_err(|_| err())?,
            sequence: sequence.parse().map_err(|_| err())?,
        };
        if number.sequence == 0 {
            Err(err())
        } else {
            Ok(number)
        }
    }
}

impl TryFrom<String> for InvoiceNumber {
    type Error = InvoiceNumberError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<InvoiceNumber> for String {
    fn from(value: InvoiceNumber) -> Self {
        value.to_string()
    }
}

/// The aggregate id of a tenant's series for a year: `<tenant>-<YYYY>`.
pub fn series_id(tenant: &TenantId, year: i32) -> String {
    format!("{tenant}-{year:04}")
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeriesCommand {
    /// Hands `invoice_id` the next number of the `year` series, or the number it already has. The
    /// year is part of the command because cqrs-es does not tell an aggregate its own id.
    AllocateNumber { year: i32, invoice_id: InvoiceId },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SeriesEvent {
    NumberAllocated {
        invoice_id: InvoiceId,
        number: InvoiceNumber,
    },
}

impl DomainEvent for SeriesEvent {
    fn event_type(&self) -> String {
        match self {
            SeriesEvent::NumberAllocated { .. } => "NumberAllocated".into(),
        }
    }
    fn event_version(&self) -> String {
        "1.0".into()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeriesError {
    #[error("year {requested} asked of the invoice series of {series}")]
    WrongYear { series: i32, requested: i32 },
    #[error("year {0} is outside 1..=9999 and cannot number an invoice")]
    YearOutOfRange(i32),
    #[error("the invoice series of {0} has no number left")]
    Exhausted(i32),
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceSeries {
    year: Option<i32>,
    last_sequence: u64,
    allocated: BTreeMap<InvoiceId, u64>,
}

impl InvoiceSeries {
    /// The number the series gave `invoice_id`, if any.
    pub fn number_of(&self, invoice_id: &InvoiceId) -> Option<InvoiceNumber> {
        let year = self.year?;
        self.allocated
            .get(invoice_id)
            .map(|&sequence| InvoiceNumber { year, sequence })
    }

    pub fn last_sequence(&self) -> u64 {
        self.last_sequence
    }
}

impl Decider for InvoiceSeries {
    const TYPE: &'static str = "InvoiceSeries";
    type Command = SeriesCommand;
    type Event = SeriesEvent;
    type Error = SeriesError;

    fn decide(&self, command: SeriesCommand) -> Result<Vec<SeriesEvent>, SeriesError> {
        let SeriesCommand::AllocateNumber { year, invoice_id } = command;
        if !(1..=9999).contains(&year) {
            return Err(SeriesError::YearOutOfRange(year));
        }
        if let Some(series) = self.year.filter(|&y| y != year) {
            return Err(SeriesError::WrongYear {
                series,
                requested: year,
            });
        }
        if self.allocated.contains_key(&invoice_id) {
            return Ok(vec![]);
        }
        let sequence = self
            .last_sequence
            .checked_add(1)
            .ok_or(SeriesError::Exhausted(year))?;
        let number = InvoiceNumber { year, sequence };
        Ok(vec![SeriesEvent::NumberAllocated { invoice_id, number }])
    }

    fn evolve(&mut self, event: SeriesEvent) {
        let SeriesEvent::NumberAllocated { invoice_id, number } = event;
        self.year = Some(number.year);
        self.last_sequence = number.sequence;
        self.allocated.insert(invoice_id, number.sequence);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cqrs_es::test::TestFramework;
    use joule_store::Decided;

    type Series = TestFramework<Decided<InvoiceSeries>>;

    fn allocated(invoice: &str, year: i32, sequence: u64) -> SeriesEvent {
        SeriesEvent::NumberAllocated {
            invoice_id: InvoiceId::derived(invoice),
            number: InvoiceNumber { year, sequence },
        }
    }

    fn allocate(invoice: &str, year: i32) -> SeriesCommand {
        SeriesCommand::AllocateNumber {
            year,
            invoice_id: InvoiceId::derived(invoice),
        }
    }

    #[test]
    fn the_first_invoice_of_a_year_gets_number_one() {
        Series::with(())
            .given_no_previous_events()
            .when(allocate("a", 2026))
            .then_expect_events(vec![allocated("a", 2026, 1)]);
    }

    #[test]
    fn numbers_follow_without_gaps() {
        Series::with(())
            .given(vec![allocated("a", 2026, 1), allocated("b", 2026, 2)])
            .when(allocate("c", 2026))
            .then_expect_events(vec![allocated("c", 2026, 3)]);
    }

    #[test]
    fn allocating_again_for_the_same_invoice_emits_nothing() {
        Series::with(())
            .given(vec![allocated("a", 2026, 1), allocated("b", 2026, 2)])
            .when(allocate("a", 2026))
            .then_expect_events(vec![]);
    }

    #[test]
    fn a_series_serves_only_its_year() {
        Series::with(())
            .given(vec![allocated("a", 2026, 1)])
            .when(allocate("b", 2027))
            .then_expect_error(SeriesError::WrongYear {
                series: 2026,
                requested: 2027,
            });
        Series::with(())
            .given_no_previous_events()
            .when(allocate("b", 10_000))
            .then_expect_error(SeriesError::YearOutOfRange(10_000));
    }

    #[test]
    fn state_answers_which_number_an_invoice_has_and_survives_a_snapshot() {
        let mut series = InvoiceSeries::default();
        series.evolve(allocated("a", 2026, 1));
        series.evolve(allocated("b", 2026, 2));
        let snapshot: InvoiceSeries =
            serde_json::from_value(serde_json::to_value(&series).unwrap()).unwrap();
        assert_eq!(snapshot, series);
        assert_eq!(
            snapshot.number_of(&InvoiceId::derived("b")),
            Some(InvoiceNumber {
                year: 2026,
                sequence: 2
            })
        );
        assert_eq!(snapshot.number_of(&InvoiceId::derived("c")), None);
        assert_eq!(snapshot.last_sequence(), 2);
    }

    #[test]
    fn numbers_format_and_parse() {
        let n = InvoiceNumber {
            year: 2026,
            sequence: 1,
        };
        assert_eq!(n.to_string(), "2026-000001");
        assert_eq!("2026-000001".parse::<InvoiceNumber>().unwrap(), n);
        assert_eq!(
            "2026-1234567".parse::<InvoiceNumber>().unwrap().sequence,
            1_234_567
        );
        for bad in [
            "",
            "2026",
            "2026-1",
            "26-000001",
            "2026-00000a",
            "2026-000000",
            "x026-000001",
        ] {
            assert!(
                bad.parse::<InvoiceNumber>().is_err(),
                "{bad} should not parse"
            );
        }
        assert_eq!(series_id(&TenantId::default_tenant(), 2026), "default-2026");
    }
}

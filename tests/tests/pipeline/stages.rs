//! One charger's frames through every stage, in memory, by the services' own code:
//!
//! 1. gateway: `frame::parse`, the version's `Request::parse`, and the pure mappings to the
//!    charger events it publishes (`v16::started`, `v16::meter_sampled`, `v16::stopped`,
//!    `v201::transaction_message`, `v201::meter_sampled`), each event through its protobuf
//!    envelope as the bus carries it;
//! 2. sessions: the charger consumer's commands (`consumers::charger_events::start`, `readings`,
//!    `stop`) on the `ChargingSession` aggregate, then the sweeper's `CompleteOverdue` and
//!    `CloseInactive`; a completion becomes `SessionCompleted` (`wire::completed_message`);
//! 3. pricing: `intake::session_facts` and the `PricedSession` aggregate with each tariff; a price
//!    becomes `SessionPriced` (`outbox::session_priced_message`);
//! 4. invoicing: `consumers::session_priced::receipt_request`, a number from the `InvoiceSeries`
//!    aggregate, the `Invoice` aggregate (lines rounded by `InvoiceLine::from_priced`),
//!    `wire::invoice_to_proto`;
//! 5. ledger: `rules::invoice_entry` and the `JournalEntry` aggregate.
//!
//! Aggregates run as cqrs-es runs them (rebuilt from their events, handed the command, what they
//! emit stored: what `joule_store::execute` does on PostgreSQL), their events kept as JSON.
//!
//! What needs a database stands in: the registry (one known token), the 1.6 transaction ids (the
//! case says which), and the matching of a 1.6 stop whose id identifies nothing to an open
//! transaction (`services/sessions/tests` covers it): here such a stop is a session of its own, as
//! when nothing matches.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Datelike, Duration, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use joule_bus::EventMeta;
use joule_domain::{AccountId, ChargerId, SessionId, TenantId, TokenId};
use joule_gateway::ocpp::clock::ClockPolicy;
use joule_gateway::ocpp::context::Origin;
use joule_gateway::ocpp::error::CallFailure;
use joule_gateway::ocpp::frame::{self, Frame, FrameError};
use joule_gateway::ocpp::protocol::OcppVersion;
use joule_gateway::ocpp::{v16, v201};
use joule_gateway::projections::registry::KnownToken;
use joule_invoicing::consumers::session_priced::receipt_request;
use joule_invoicing::invoice::{Invoice, InvoiceCommand, InvoiceError, InvoiceEvent, IssueInvoice};
use joule_invoicing::series::{InvoiceSeries, SeriesCommand, SeriesError, series_id};
use joule_invoicing::wire::FieldError;
use joule_ledger::journal::{JournalCommand, JournalEntry, JournalError, PostEntry};
use joule_ledger::rules;
use joule_pricing::consumers::session_completed::session_facts;
use joule_pricing::priced_session::{
    PricedSession, PricedSessionCommand, PricedSessionEvent, Pricing,
};
use joule_pricing::wire::session_priced_message;
use joule_proto::v1;
use joule_sessions::domain::session::{
    ChargingSession, SessionCommand, SessionEvent, SessionRules,
};
use joule_store::Decided;

use super::charger::{Delivery, KNOWN_TAG};
use super::tariffs;

pub const TENANT: &str = "default";
pub const CHARGE_POINT: &str = "CP-PROPERTY-1";

/// An aggregate type's event streams, in memory, run as cqrs-es runs them on PostgreSQL: the
/// aggregate is rebuilt from its stored events, handed the command, and what it emits is stored as
/// JSON (postgres-es stores events so; the next command reads them back from it).
struct Memory<A: Aggregate> {
    services: A::Services,
    streams: RefCell<HashMap<String, Vec<serde_json::Value>>>,
}

impl<A: Aggregate> Memory<A> {
    fn new(services: A::Services) -> Self {
        Self {
            services,
            streams: RefCell::default(),
        }
    }

    fn events(&self, id: &str) -> Vec<A::Event> {
        self.streams
            .borrow()
            .get(id)
            .into_iter()
            .flatten()
            .map(|json| serde_json::from_value(json.clone()).expect("a stored event reads back"))
            .collect()
    }

    /// The aggregate as its events leave it.
    fn state(&self, id: &str) -> A {
        let mut aggregate = A::default();
        for event in self.events(id) {
            aggregate.apply(event);
        }
        aggregate
    }

    /// Executes `command` on aggregate `id`; the events it emitted, each of which must read back
    /// from its JSON as it was.
    async fn execute(&self, id: &str, command: A::Command) -> Result<Vec<A::Event>, A::Error> {
        let mut aggregate = self.state(id);
        let sink = EventSink::default();
        aggregate.handle(command, &self.services, &sink).await?;
        let events = sink.collect().await;
        let stored = events
            .iter()
            .map(|e| serde_json::to_value(e).expect("an event serialises"));
        self.streams
            .borrow_mut()
            .entry(id.to_owned())
            .or_default()
            .extend(stored);
        let all = self.events(id);
        assert_eq!(
            all[all.len() - events.len()..],
            events[..],
            "{} events do not read back as stored",
            A::TYPE
        );
        Ok(events)
    }
}

/// What the ledger did with an issued invoice.
#[derive(Debug)]
pub enum Ledger {
    Unreadable(rules::FieldError),
    /// An invoice of zero: nothing to post.
    NothingToPost,
    Refused(JournalError),
    Posted(PostEntry),
}

/// What invoicing did with a priced session.
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "one per session and tariff, built once"
)]
pub enum Invoicing {
    Unreadable(FieldError),
    NotNumbered(SeriesError),
    Refused(InvoiceError),
    Issued {
        invoice: v1::Invoice,
        ledger: Ledger,
    },
}

/// What pricing did with a completed session, with one tariff.
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "one per session and tariff, built once"
)]
pub enum Price {
    /// `session_facts` refused the completion (recorded as `PricingFailed` in production).
    Unpriceable(String),
    Failed(String),
    Priced {
        message: v1::SessionPriced,
        invoicing: Invoicing,
    },
}

/// A session that completed, and what each tariff made of it.
#[derive(Debug)]
pub struct Billed {
    pub completed: v1::SessionCompleted,
    pub flags: Vec<String>,
    pub by_tariff: Vec<(&'static str, Price)>,
}

/// Everything one run produced.
#[derive(Debug, Default)]
pub struct Run {
    pub frames_refused: Vec<FrameError>,
    pub calls_refused: Vec<CallFailure>,
    /// Flags on the charger events the gateway published.
    pub charger_flags: Vec<String>,
    /// Sessions in the order their first event arrived; `None`: never completed.
    pub sessions: Vec<(String, Option<Billed>)>,
}

/// A charger event for sessions.
enum ChargerEvent {
    Started(v1::TransactionStarted),
    Meter(v1::MeterValuesSampled),
    Stopped(v1::TransactionStopped),
}

/// Through the protobuf envelope, as the bus carries an event.
fn carried<M: joule_proto::Message + joule_proto::EventName + Default>(
    message: &M,
    at: DateTime<Utc>,
) -> M {
    let meta = EventMeta {
        event_id: "e".into(),
        tenant_id: TENANT.into(),
        aggregate_type: "Charger".into(),
        aggregate_id: CHARGE_POINT.into(),
        sequence: 0,
        occurred_at: at,
        correlation_id: "e".into(),
        causation_id: String::new(),
    };
    let envelope = joule_bus::envelope(message, meta);
    joule_bus::decode_payload(&envelope).expect("an event decodes as it was encoded")
}

pub struct Pipeline {
    version: OcppVersion,
    token: KnownToken,
    /// 1.6 transaction ids given so far.
    issued: BTreeSet<i32>,
    sessions: Memory<ChargingSession>,
    run: Run,
}

impl Pipeline {
    pub fn new(v201: bool) -> Self {
        Self {
            version: if v201 {
                OcppVersion::V201
            } else {
                OcppVersion::V16
            },
            token: KnownToken {
                token_id: TokenId::derived(KNOWN_TAG),
                account_id: AccountId::derived("driver"),
                holder: Default::default(),
            },
            issued: BTreeSet::new(),
            sessions: Memory::new(SessionRules::default()),
            run: Run::default(),
        }
    }

    /// The registry's answer for an idTag: one token is known, case-insensitively.
    fn find_token(&self, id_tag: &str) -> Option<&KnownToken> {
        id_tag
            .eq_ignore_ascii_case(KNOWN_TAG)
            .then_some(&self.token)
    }

    fn origin(&self, received_at: DateTime<Utc>) -> Origin {
        Origin {
            charger_id: ChargerId::derived(CHARGE_POINT).to_string(),
            charge_point_id: CHARGE_POINT.into(),
            received_at,
            version: self.version,
            clock: ClockPolicy::from_secs(300),
        }
    }

    /// The gateway: a frame in, the charger events it publishes out.
    fn gateway(&mut self, delivery: &Delivery) -> Vec<ChargerEvent> {
        let call = match frame::parse(&delivery.text) {
            Ok(Frame::Call(call)) => call,
            // Answers to the gateway's own CALLs: not billing.
            Ok(_) => return vec![],
            Err(e) => {
                self.run.frames_refused.push(e);
                return vec![];
            }
        };
        let at = delivery.received_at;
        let origin = self.origin(at);
        let events = match self.version {
            OcppVersion::V16 => match v16::Request::parse(&call, at) {
                Err(e) => {
                    self.run.calls_refused.push(e);
                    return vec![];
                }
                Ok(v16::Request::StartTransaction(req)) => {
                    // A start among the other messages (an action the generator happened to
                    // spell) gets an id no transaction of the case has.
                    let spare = 1_000_000 + i32::try_from(self.issued.len()).unwrap_or(0);
                    let id = delivery.start_id.unwrap_or(spare);
                    self.issued.insert(id);
                    let token = self.find_token(&req.id_tag);
                    vec![ChargerEvent::Started(
                        v16::started(&origin, req, id, token).message,
                    )]
                }
                Ok(v16::Request::MeterValues(req)) => vec![ChargerEvent::Meter(
                    v16::meter_sampled(&origin, req).message,
                )],
                Ok(v16::Request::StopTransaction(req)) => {
                    let issued = req
                        .transaction_id
                        .as_deref()
                        .and_then(v16::issued_id)
                        .is_some_and(|id| self.issued.contains(&id));
                    let token = req.id_tag.as_deref().and_then(|t| self.find_token(t));
                    vec![ChargerEvent::Stopped(
                        v16::stopped(&origin, req, issued, token).message,
                    )]
                }
                Ok(_) => vec![],
            },
            OcppVersion::V201 => match v201::Request::parse(&call, at) {
                Err(e) => {
                    self.run.calls_refused.push(e);
                    return vec![];
                }
                Ok(v201::Request::TransactionEvent(req)) => {
                    let token = req
                        .id_token
                        .as_ref()
                        .and_then(|t| self.find_token(&t.id_token));
                    vec![match v201::transaction_message(&origin, &req, token) {
                        v201::TransactionMessage::Started(e) => ChargerEvent::Started(e.message),
                        v201::TransactionMessage::Updated(e) => ChargerEvent::Meter(e.message),
                        v201::TransactionMessage::Ended(e) => ChargerEvent::Stopped(e.message),
                    }]
                }
                Ok(v201::Request::MeterValues(req)) => vec![ChargerEvent::Meter(
                    v201::meter_sampled(&origin, req).message,
                )],
                Ok(_) => vec![],
            },
        };
        events
            .into_iter()
            .map(|event| match event {
                ChargerEvent::Started(m) => ChargerEvent::Started(carried(&m, at)),
                ChargerEvent::Meter(m) => ChargerEvent::Meter(carried(&m, at)),
                ChargerEvent::Stopped(m) => ChargerEvent::Stopped(carried(&m, at)),
            })
            .collect()
    }

    /// Sessions: the intake's command for a charger event, on its session.
    async fn sessions(&mut self, event: ChargerEvent) {
        let command = match event {
            ChargerEvent::Started(m) => {
                self.run.charger_flags.extend(m.flags.iter().cloned());
                joule_sessions::consumers::charger_events::start(TENANT, m)
            }
            ChargerEvent::Meter(m) => {
                self.run.charger_flags.extend(m.flags.iter().cloned());
                joule_sessions::consumers::charger_events::readings(TENANT, m)
            }
            ChargerEvent::Stopped(m) => {
                self.run.charger_flags.extend(m.flags.iter().cloned());
                joule_sessions::consumers::charger_events::stop(TENANT, m)
            }
        };
        let Some((id, command)) = command else {
            return;
        };
        let id = id.to_string();
        if !self.run.sessions.iter().any(|(s, _)| *s == id) {
            self.run.sessions.push((id.clone(), None));
        }
        self.sessions
            .execute(&id, command)
            .await
            .expect("a session never refuses charger input");
    }

    /// Every frame through every stage; `closing`: when the sweeper completes what is left and
    /// the sessions are priced.
    pub async fn run(mut self, deliveries: &[Delivery], closing: DateTime<Utc>) -> Run {
        for delivery in deliveries {
            for event in self.gateway(delivery) {
                self.sessions(event).await;
            }
        }
        let tariffs = tariffs::all();
        let books: Vec<Books> = tariffs.iter().map(|_| Books::new()).collect();
        let ids: Vec<String> = self.run.sessions.iter().map(|(id, _)| id.clone()).collect();
        for (i, id) in ids.iter().enumerate() {
            // The sweeper, once its waits are over.
            for command in [
                SessionCommand::CompleteOverdue,
                SessionCommand::CloseInactive {
                    now: closing,
                    limit: Duration::hours(48),
                },
            ] {
                self.sessions
                    .execute(id, command)
                    .await
                    .expect("a session never refuses the sweeper");
            }
            let events = self.sessions.events(id);
            let flags = events
                .iter()
                .filter_map(|e| match e {
                    SessionEvent::SessionFlagged { flag, .. } => Some(flag.clone()),
                    _ => None,
                })
                .collect();
            let completions: Vec<&SessionEvent> = events
                .iter()
                .filter(|e| matches!(e, SessionEvent::SessionCompleted { .. }))
                .collect();
            assert!(completions.len() <= 1, "session {id} completed twice");
            let Some(completion) = completions.first() else {
                continue;
            };
            let completed = joule_sessions::wire::completed_message(id, completion)
                .expect("a completion publishes SessionCompleted");
            let completed = carried(&completed, closing);
            let mut by_tariff = Vec::new();
            for ((name, pricing), books) in tariffs.iter().zip(&books) {
                by_tariff.push((*name, books.bill(&completed, pricing, closing).await));
            }
            self.run.sessions[i].1 = Some(Billed {
                completed,
                flags,
                by_tariff,
            });
        }
        self.run
    }
}

/// Pricing, invoicing and the ledger for one tariff.
struct Books {
    priced: Memory<Decided<PricedSession>>,
    series: Memory<Decided<InvoiceSeries>>,
    invoices: Memory<Decided<Invoice>>,
    journal: Memory<Decided<JournalEntry>>,
}

impl Books {
    fn new() -> Self {
        Self {
            priced: Memory::new(()),
            series: Memory::new(()),
            invoices: Memory::new(()),
            journal: Memory::new(()),
        }
    }

    async fn bill(
        &self,
        completed: &v1::SessionCompleted,
        pricing: &Pricing,
        now: DateTime<Utc>,
    ) -> Price {
        let session_id: SessionId = completed
            .session_id
            .parse()
            .expect("sessions derives its ids");
        let (session, charger_id) = match session_facts(completed, session_id, now) {
            Ok(facts) => facts,
            Err(reason) => return Price::Unpriceable(reason),
        };
        let command = PricedSessionCommand::PriceSession {
            session,
            charger_id,
            connector_id: completed.connector_id,
            pricing: pricing.clone(),
            time_zone: tariffs::TIME_ZONE.into(),
            priced_at: now,
        };
        let id = session_id.to_string();
        let events = self
            .priced
            .execute(&id, command)
            .await
            .expect("pricing never refuses");
        match events.as_slice() {
            [event @ PricedSessionEvent::SessionPriced { .. }] => {
                let message =
                    session_priced_message(event).expect("a price publishes SessionPriced");
                let message = carried(&message, now);
                let invoicing = self.invoice(&message, now).await;
                Price::Priced { message, invoicing }
            }
            [PricedSessionEvent::PricingFailed { reason, .. }] => Price::Failed(reason.clone()),
            other => panic!("pricing a session once records one outcome, not {other:?}"),
        }
    }

    async fn invoice(&self, message: &v1::SessionPriced, now: DateTime<Utc>) -> Invoicing {
        let tenant: TenantId = TENANT.parse().expect("a tenant");
        let meta = EventMeta {
            event_id: format!("priced/{}", message.session_id),
            tenant_id: TENANT.into(),
            aggregate_type: "PricedSession".into(),
            aggregate_id: message.session_id.clone(),
            sequence: 1,
            occurred_at: now,
            correlation_id: String::new(),
            causation_id: String::new(),
        };
        let envelope = joule_bus::envelope(message, meta);
        let request = match receipt_request(message, &envelope, &tenant) {
            Ok(request) => request,
            Err(e) => return Invoicing::Unreadable(e),
        };
        let invoice_id = request.invoice_id();
        let year = request.issued_at.year();
        let series = series_id(&request.tenant_id, year);
        if let Err(e) = self
            .series
            .execute(&series, SeriesCommand::AllocateNumber { year, invoice_id })
            .await
        {
            return Invoicing::NotNumbered(e);
        }
        let number = self
            .series
            .state(&series)
            .number_of(&invoice_id)
            .expect("the series numbered the invoice");
        let command = InvoiceCommand::Issue(IssueInvoice {
            number,
            tenant_id: request.tenant_id,
            account_id: request.account_id,
            session_id: request.session_id,
            currency: request.currency,
            lines: request.lines,
            issued_at: request.issued_at,
        });
        let issued = match self
            .invoices
            .execute(&invoice_id.to_string(), command)
            .await
        {
            Ok(events) => match events.as_slice() {
                [InvoiceEvent::InvoiceIssued(issued)] => issued.clone(),
                other => panic!("issuing once records one invoice, not {other:?}"),
            },
            Err(e) => return Invoicing::Refused(e),
        };
        let invoice = joule_invoicing::wire::invoice_to_proto(invoice_id, &issued);
        let ledger = self.post(&invoice, now).await;
        Invoicing::Issued { invoice, ledger }
    }

    async fn post(&self, invoice: &v1::Invoice, now: DateTime<Utc>) -> Ledger {
        let (entry_id, entry) = match rules::invoice_entry(invoice, now) {
            Ok(entry) => entry,
            Err(e) => return Ledger::Unreadable(e),
        };
        if entry.postings.is_empty() {
            return Ledger::NothingToPost;
        }
        match self
            .journal
            .execute(&entry_id.to_string(), JournalCommand::Post(entry.clone()))
            .await
        {
            Ok(_) => Ledger::Posted(entry),
            Err(e) => Ledger::Refused(e),
        }
    }
}

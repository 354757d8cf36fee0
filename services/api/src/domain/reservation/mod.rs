//! The Reservation aggregate: a connector of a charger held for one token until a time (OCPP
//! ReserveNow), and the fee it costs (OCPI RESERVATION tariff elements).
//!
//! ```text
//! requested ──▶ accepted ──▶ cancelled | expired | used (a session id)
//!     │                             └──▶ fee recorded (once, after any of these ends)
//!     ├──▶ refused (the charger's status: Occupied, Faulted, Unavailable, Rejected)
//!     └──▶ failed (not connected, no answer)
//! ```
//!
//! Every end records when it happened: the charger's answer when it came, the cancellation when
//! the charger confirmed it, the expiry at `expires_at` (not when a replica noticed), the use when
//! the session started. Commands that are already applied record nothing, so the expiry sweep,
//! the session consumer and retried requests may repeat them (several api replicas do).
//!
//! The aggregate has no clock: commands carry the time they are decided at. ADR 036.

use chrono::{DateTime, Utc};
use joule_domain::{ChargePointId, ChargerId, Money, SessionId, TariffId, TokenId, TokenUid};
use joule_store::Decider;
use serde::{Deserialize, Serialize};

#[cfg(test)]
mod tests;

joule_domain::uuid_id!(
    /// A reservation made through the api (random; its OCPP `reservationId` is another number).
    ReservationId,
    "reservation"
);

/// What the charger is asked to hold, as the route checked it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requested {
    pub reservation_id: ReservationId,
    /// OCPP `reservationId`: unique per charger (from a sequence of the api's schema).
    pub ocpp_reservation_id: i32,
    pub charger_id: ChargerId,
    pub charge_point_id: ChargePointId,
    /// 0: any connector.
    pub connector_id: u32,
    pub token_id: TokenId,
    pub token_uid: TokenUid,
    /// The charger's tariff and time zone when the reservation was made: the fee is priced with them.
    pub tariff_id: TariffId,
    pub time_zone: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ReservationCommand {
    Request {
        reservation: Requested,
        at: DateTime<Utc>,
    },
    /// The charger answered ReserveNow with `Accepted`.
    Accept { at: DateTime<Utc> },
    /// The charger answered ReserveNow with another status.
    Refuse {
        charger_status: String,
        at: DateTime<Utc>,
    },
    /// ReserveNow reached no charger or got no answer.
    Fail { reason: String, at: DateTime<Utc> },
    /// The charger confirmed CancelReservation.
    Cancel { at: DateTime<Utc> },
    /// Ends an accepted reservation whose time is up (`now` past `expires_at`).
    Expire { now: DateTime<Utc> },
    /// A session of the reserved token started on the reserved charger.
    Use {
        session_id: SessionId,
        started_at: DateTime<Utc>,
    },
    /// The fee pricing computed for the ended reservation.
    RecordFee { fee: Fee, at: DateTime<Utc> },
}

/// A reservation's price: OCPI `total_reservation_cost` of the reservation priced as a CDR.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fee {
    pub excl_vat: Money,
    pub incl_vat: Money,
    pub tariff_id: TariffId,
    pub tariff_version: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ReservationEvent {
    ReservationRequested {
        reservation: Requested,
        requested_at: DateTime<Utc>,
    },
    ReservationAccepted {
        reservation_id: ReservationId,
        accepted_at: DateTime<Utc>,
    },
    ReservationRefused {
        reservation_id: ReservationId,
        charger_status: String,
        refused_at: DateTime<Utc>,
    },
    ReservationFailed {
        reservation_id: ReservationId,
        reason: String,
        failed_at: DateTime<Utc>,
    },
    ReservationCancelled {
        reservation_id: ReservationId,
        cancelled_at: DateTime<Utc>,
    },
    ReservationExpired {
        reservation_id: ReservationId,
        expired_at: DateTime<Utc>,
    },
    ReservationUsed {
        reservation_id: ReservationId,
        session_id: SessionId,
        used_at: DateTime<Utc>,
    },
    ReservationFeeRecorded {
        reservation_id: ReservationId,
        fee: Fee,
        priced_at: DateTime<Utc>,
    },
}

joule_store::event_versions!(ReservationEvent {
    ReservationRequested => "1.0",
    ReservationAccepted => "1.0",
    ReservationRefused => "1.0",
    ReservationFailed => "1.0",
    ReservationCancelled => "1.0",
    ReservationExpired => "1.0",
    ReservationUsed => "1.0",
    ReservationFeeRecorded => "1.0",
});

/// Where a reservation is; the read table's `status` column spells it the same way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    #[default]
    None,
    Requested,
    Accepted,
    Refused,
    Failed,
    Cancelled,
    Expired,
    Used,
}

impl Status {
    pub const NAMES: [&'static str; 7] = [
        "requested",
        "accepted",
        "refused",
        "failed",
        "cancelled",
        "expired",
        "used",
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::None => "none",
            Status::Requested => "requested",
            Status::Accepted => "accepted",
            Status::Refused => "refused",
            Status::Failed => "failed",
            Status::Cancelled => "cancelled",
            Status::Expired => "expired",
            Status::Used => "used",
        }
    }

    /// An accepted reservation that ended: the ends that cost a fee.
    pub fn is_ended(self) -> bool {
        matches!(self, Status::Cancelled | Status::Expired | Status::Used)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, PartialEq, thiserror::Error)]
pub enum ReservationError {
    #[error("reservation {0} exists already")]
    Exists(ReservationId),
    #[error("no such reservation")]
    Unknown,
    #[error("reservation {id} is {status}, not awaiting the charger's answer")]
    Answered { id: ReservationId, status: Status },
    #[error("reservation {id} is {status}, not active")]
    NotActive { id: ReservationId, status: Status },
    #[error("reservation {id} holds until {expires_at}; it has not expired")]
    NotExpired {
        id: ReservationId,
        expires_at: DateTime<Utc>,
    },
    #[error("reservation {id} expired at {expires_at}, before the session started at {started_at}")]
    ExpiredBeforeUse {
        id: ReservationId,
        expires_at: DateTime<Utc>,
        started_at: DateTime<Utc>,
    },
    #[error("reservation {id} was used by session {session_id}")]
    UsedByAnother {
        id: ReservationId,
        session_id: SessionId,
    },
    #[error("reservation {id} is {status}: only an ended reservation has a fee")]
    NotEnded { id: ReservationId, status: Status },
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Reservation {
    id: Option<ReservationId>,
    status: Status,
    tariff_id: Option<TariffId>,
    time_zone: String,
    expires_at: Option<DateTime<Utc>>,
    accepted_at: Option<DateTime<Utc>>,
    ended_at: Option<DateTime<Utc>>,
    session_id: Option<SessionId>,
    fee_recorded: bool,
}

impl Reservation {
    pub fn status(&self) -> Status {
        self.status
    }

    /// The tariff and time zone the fee is priced with.
    pub fn tariff(&self) -> Option<(TariffId, &str)> {
        self.tariff_id.map(|t| (t, self.time_zone.as_str()))
    }

    pub fn fee_recorded(&self) -> bool {
        self.fee_recorded
    }

    /// From the acceptance to the end: what the fee is priced for. `None` until it ended.
    pub fn held(&self) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let (from, to) = (self.accepted_at?, self.ended_at?);
        // A session's start is the charger's clock, which may lag the acceptance.
        Some((from, to.max(from)))
    }

    fn active(&self, id: ReservationId) -> Result<DateTime<Utc>, ReservationError> {
        match (self.status, self.expires_at) {
            (Status::Accepted, Some(expires_at)) => Ok(expires_at),
            (status, _) => Err(ReservationError::NotActive { id, status }),
        }
    }
}

impl Decider for Reservation {
    const TYPE: &'static str = "reservation";
    type Command = ReservationCommand;
    type Event = ReservationEvent;
    type Error = ReservationError;

    fn decide(
        &self,
        command: ReservationCommand,
    ) -> Result<Vec<ReservationEvent>, ReservationError> {
        use ReservationCommand as C;
        use ReservationEvent as E;
        let Some(id) = self.id else {
            return match command {
                C::Request { reservation, at } => Ok(vec![E::ReservationRequested {
                    reservation,
                    requested_at: at,
                }]),
                _ => Err(ReservationError::Unknown),
            };
        };
        let answered = |wanted: Status| match self.status {
            Status::Requested => Ok(true),
            s if s == wanted => Ok(false),
            status => Err(ReservationError::Answered { id, status }),
        };
        Ok(match command {
            C::Request { reservation, .. } if reservation.reservation_id == id => vec![],
            C::Request { reservation, .. } => {
                return Err(ReservationError::Exists(reservation.reservation_id));
            }
            C::Accept { at } => answered(Status::Accepted)?
                .then_some(E::ReservationAccepted {
                    reservation_id: id,
                    accepted_at: at,
                })
                .into_iter()
                .collect(),
            C::Refuse { charger_status, at } => answered(Status::Refused)?
                .then_some(E::ReservationRefused {
                    reservation_id: id,
                    charger_status,
                    refused_at: at,
                })
                .into_iter()
                .collect(),
            C::Fail { reason, at } => answered(Status::Failed)?
                .then_some(E::ReservationFailed {
                    reservation_id: id,
                    reason,
                    failed_at: at,
                })
                .into_iter()
                .collect(),
            C::Cancel { .. } if self.status == Status::Cancelled => vec![],
            C::Cancel { at } => {
                self.active(id)?;
                vec![E::ReservationCancelled {
                    reservation_id: id,
                    cancelled_at: at,
                }]
            }
            C::Expire { .. } if self.status == Status::Expired => vec![],
            C::Expire { now } => {
                let expires_at = self.active(id)?;
                if now < expires_at {
                    return Err(ReservationError::NotExpired { id, expires_at });
                }
                vec![E::ReservationExpired {
                    reservation_id: id,
                    expired_at: expires_at,
                }]
            }
            C::Use { session_id, .. } if self.status == Status::Used => match self.session_id {
                Some(used) if used != session_id => {
                    return Err(ReservationError::UsedByAnother {
                        id,
                        session_id: used,
                    });
                }
                _ => vec![],
            },
            C::Use {
                session_id,
                started_at,
            } => {
                let expires_at = self.active(id)?;
                if started_at >= expires_at {
                    return Err(ReservationError::ExpiredBeforeUse {
                        id,
                        expires_at,
                        started_at,
                    });
                }
                vec![E::ReservationUsed {
                    reservation_id: id,
                    session_id,
                    used_at: started_at,
                }]
            }
            C::RecordFee { .. } if self.fee_recorded => vec![],
            C::RecordFee { fee, at } => {
                if !self.status.is_ended() {
                    return Err(ReservationError::NotEnded {
                        id,
                        status: self.status,
                    });
                }
                vec![E::ReservationFeeRecorded {
                    reservation_id: id,
                    fee,
                    priced_at: at,
                }]
            }
        })
    }

    fn evolve(&mut self, event: ReservationEvent) {
        use ReservationEvent as E;
        match event {
            E::ReservationRequested { reservation, .. } => {
                self.id = Some(reservation.reservation_id);
                self.expires_at = Some(reservation.expires_at);
                self.tariff_id = Some(reservation.tariff_id);
                self.time_zone = reservation.time_zone;
                self.status = Status::Requested;
            }
            E::ReservationAccepted { accepted_at, .. } => {
                self.status = Status::Accepted;
                self.accepted_at = Some(accepted_at);
            }
            E::ReservationRefused { .. } => self.status = Status::Refused,
            E::ReservationFailed { .. } => self.status = Status::Failed,
            E::ReservationCancelled { cancelled_at, .. } => {
                self.status = Status::Cancelled;
                self.ended_at = Some(cancelled_at);
            }
            E::ReservationExpired { expired_at, .. } => {
                self.status = Status::Expired;
                self.ended_at = Some(expired_at);
            }
            E::ReservationUsed {
                session_id,
                used_at,
                ..
            } => {
                self.status = Status::Used;
                self.session_id = Some(session_id);
                self.ended_at = Some(used_at);
            }
            E::ReservationFeeRecorded { .. } => self.fee_recorded = true,
        }
    }
}

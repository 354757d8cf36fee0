-- Reservations (issue 13). OCPP's reservationId is an int32 unique per charger: one sequence for
-- all chargers gives that, and wraps after 2^31 - 1 reservations (long ended by then).
CREATE SEQUENCE {schema}.ocpp_reservation_ids AS integer MINVALUE 1 MAXVALUE 2147483647 CYCLE;

-- Written only by the relay. `seq` orders lists and is the cursor. Fee amounts are decimal strings,
-- as recorded (no float, no re-scaling).
CREATE TABLE {schema}.reservations (
    seq                 bigserial UNIQUE NOT NULL,
    id                  uuid PRIMARY KEY,
    tenant_id           text NOT NULL,
    ocpp_reservation_id integer NOT NULL,
    charger_id          uuid NOT NULL,
    charge_point_id     text NOT NULL,
    connector_id        bigint NOT NULL,
    token_id            uuid NOT NULL,
    token_uid           text NOT NULL,
    tariff_id           uuid NOT NULL,
    time_zone           text NOT NULL,
    status              text NOT NULL,
    expires_at          timestamptz NOT NULL,
    created_at          timestamptz NOT NULL,
    accepted_at         timestamptz,
    ended_at            timestamptz,
    charger_status      text,
    failure             text,
    session_id          uuid,
    fee_excl_vat        text,
    fee_incl_vat        text,
    fee_currency        text,
    fee_tariff_version  bigint,
    priced_at           timestamptz
);
CREATE INDEX reservations_tenant_seq ON {schema}.reservations (tenant_id, seq);
-- The expiry sweep, and the session consumer's look-up.
CREATE INDEX reservations_accepted_expiry ON {schema}.reservations (expires_at)
    WHERE status = 'accepted';
CREATE INDEX reservations_accepted_charger ON {schema}.reservations (tenant_id, charge_point_id, token_uid)
    WHERE status = 'accepted';
-- Ended reservations still to be priced.
CREATE INDEX reservations_unpriced ON {schema}.reservations (ended_at)
    WHERE status IN ('cancelled', 'expired', 'used') AND priced_at IS NULL;

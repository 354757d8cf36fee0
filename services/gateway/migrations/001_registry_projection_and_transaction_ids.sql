CREATE TABLE {schema}.chargers (
    charge_point_id text PRIMARY KEY,
    charger_id      text NOT NULL,
    site_id         text NOT NULL,
    tariff_id       text NOT NULL
);
CREATE TABLE {schema}.tokens (
    uid        text PRIMARY KEY,
    token_id   text NOT NULL,
    account_id text NOT NULL
);
-- idTags are case-insensitive in OCPP.
CREATE INDEX tokens_uid_lower ON {schema}.tokens (lower(uid));
-- OCPP 1.6 transactionId is a 32-bit integer; any replica draws from the one sequence.
CREATE SEQUENCE {schema}.transaction_ids AS integer START 1 NO CYCLE;
CREATE TABLE {schema}.transactions (
    transaction_id    integer PRIMARY KEY,
    charge_point_id   text NOT NULL,
    connector_id      bigint NOT NULL,
    id_tag            text NOT NULL,
    meter_start_wh    numeric NOT NULL,
    charger_time      timestamptz NOT NULL,
    first_received_at timestamptz NOT NULL,
    UNIQUE (charge_point_id, connector_id, id_tag, meter_start_wh, charger_time)
);

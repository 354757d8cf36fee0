-- Only hashes (PHC strings); an empty hash means no password.
CREATE TABLE {schema}.charger_credentials (
    charge_point_id text PRIMARY KEY,
    password_hash   text NOT NULL
);
-- The replica holding each charger's connection, for routing commands.
CREATE TABLE {schema}.presence (
    charge_point_id text PRIMARY KEY,
    replica_id      text NOT NULL,
    conn_id         bigint NOT NULL,
    connected_at    timestamptz NOT NULL
);
CREATE TABLE {schema}.connector_status (
    charge_point_id text NOT NULL,
    evse_id         bigint NOT NULL,
    connector_id    bigint NOT NULL,
    status          text NOT NULL,
    error_code      text NOT NULL,
    faulted         boolean NOT NULL,
    updated_at      timestamptz NOT NULL,
    PRIMARY KEY (charge_point_id, evse_id, connector_id)
);
CREATE TABLE {schema}.frames (
    id              bigserial PRIMARY KEY,
    charge_point_id text NOT NULL,
    direction       text NOT NULL CHECK (direction IN ('in', 'out')),
    at              timestamptz NOT NULL,
    frame           text NOT NULL
);
CREATE INDEX frames_by_charger ON {schema}.frames (charge_point_id, at);
CREATE INDEX frames_by_age ON {schema}.frames (at);

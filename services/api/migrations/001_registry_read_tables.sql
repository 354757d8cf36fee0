-- `seq` orders lists and is the pagination cursor; ids are random or derived, so they cannot.
CREATE TABLE {schema}.sites (
    seq        bigserial UNIQUE NOT NULL,
    id         uuid PRIMARY KEY,
    tenant_id  text NOT NULL,
    name       text NOT NULL,
    country    text NOT NULL,
    time_zone  text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX sites_tenant_seq ON {schema}.sites (tenant_id, seq);
CREATE TABLE {schema}.chargers (
    seq             bigserial UNIQUE NOT NULL,
    id              uuid PRIMARY KEY,
    tenant_id       text NOT NULL,
    charge_point_id text NOT NULL,
    site_id         uuid NOT NULL,
    tariff_id       uuid NOT NULL,
    time_zone       text NOT NULL,
    created_at      timestamptz NOT NULL
);
CREATE INDEX chargers_tenant_seq ON {schema}.chargers (tenant_id, seq);
CREATE TABLE {schema}.accounts (
    seq        bigserial UNIQUE NOT NULL,
    id         uuid PRIMARY KEY,
    tenant_id  text NOT NULL,
    name       text NOT NULL,
    currency   text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX accounts_tenant_seq ON {schema}.accounts (tenant_id, seq);
CREATE TABLE {schema}.tokens (
    seq        bigserial UNIQUE NOT NULL,
    id         uuid PRIMARY KEY,
    tenant_id  text NOT NULL,
    uid        text NOT NULL,
    account_id uuid NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX tokens_tenant_seq ON {schema}.tokens (tenant_id, seq);

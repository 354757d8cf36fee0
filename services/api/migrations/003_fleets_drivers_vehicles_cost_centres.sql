-- Fleet records (issue 13): read tables kept by the relay like the registry's. `seq` orders lists
-- and is the cursor; a change updates a row in place (and `updated_at`) but keeps its `seq`.
CREATE TABLE {schema}.fleets (
    seq        bigserial UNIQUE NOT NULL,
    id         uuid PRIMARY KEY,
    tenant_id  text NOT NULL,
    account_id uuid NOT NULL,
    name       text NOT NULL,
    status     text NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX fleets_tenant_seq ON {schema}.fleets (tenant_id, seq);
CREATE INDEX fleets_tenant_account ON {schema}.fleets (tenant_id, account_id);

CREATE TABLE {schema}.cost_centres (
    seq        bigserial UNIQUE NOT NULL,
    id         uuid PRIMARY KEY,
    tenant_id  text NOT NULL,
    account_id uuid NOT NULL,
    code       text NOT NULL,
    name       text NOT NULL,
    status     text NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX cost_centres_tenant_seq ON {schema}.cost_centres (tenant_id, seq);
CREATE INDEX cost_centres_tenant_account ON {schema}.cost_centres (tenant_id, account_id, seq);

CREATE TABLE {schema}.drivers (
    seq            bigserial UNIQUE NOT NULL,
    id             uuid PRIMARY KEY,
    tenant_id      text NOT NULL,
    fleet_id       uuid NOT NULL,
    name           text NOT NULL,
    email          text,
    cost_centre_id uuid,
    status         text NOT NULL,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
);
CREATE INDEX drivers_tenant_seq ON {schema}.drivers (tenant_id, seq);
CREATE INDEX drivers_tenant_fleet ON {schema}.drivers (tenant_id, fleet_id, seq);

CREATE TABLE {schema}.vehicles (
    seq                  bigserial UNIQUE NOT NULL,
    id                   uuid PRIMARY KEY,
    tenant_id            text NOT NULL,
    fleet_id             uuid NOT NULL,
    vin                  text NOT NULL,
    make                 text NOT NULL,
    model                text NOT NULL,
    battery_capacity_kwh numeric NOT NULL,
    cost_centre_id       uuid,
    status               text NOT NULL,
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL
);
CREATE INDEX vehicles_tenant_seq ON {schema}.vehicles (tenant_id, seq);
CREATE INDEX vehicles_tenant_fleet ON {schema}.vehicles (tenant_id, fleet_id, seq);

-- A token's assignment: none until one is made (`fleet_id` is null exactly when neither a driver
-- nor a vehicle is assigned).
ALTER TABLE {schema}.tokens
    ADD COLUMN fleet_id    uuid,
    ADD COLUMN driver_id   uuid,
    ADD COLUMN vehicle_id  uuid,
    ADD COLUMN assigned_at timestamptz;
CREATE INDEX tokens_tenant_fleet ON {schema}.tokens (tenant_id, fleet_id, seq);

-- Charge point ids and token uids are unique within a tenant only (ADR 032): every table keyed by
-- a charge point or a token uid is keyed by (tenant_id, ...). Rows from before this migration
-- belong to the deployment's tenant (JOULE_TENANT), which a migration does not know: they get ''
-- here and the gateway's start fills it in once (`tenant_backfill`, `registry::backfill_tenant`).
ALTER TABLE {schema}.chargers ADD COLUMN tenant_id text NOT NULL DEFAULT '';
ALTER TABLE {schema}.chargers DROP CONSTRAINT chargers_pkey;
ALTER TABLE {schema}.chargers ADD PRIMARY KEY (tenant_id, charge_point_id);
ALTER TABLE {schema}.chargers ALTER COLUMN tenant_id DROP DEFAULT;

ALTER TABLE {schema}.charger_credentials ADD COLUMN tenant_id text NOT NULL DEFAULT '';
ALTER TABLE {schema}.charger_credentials DROP CONSTRAINT charger_credentials_pkey;
ALTER TABLE {schema}.charger_credentials ADD PRIMARY KEY (tenant_id, charge_point_id);
ALTER TABLE {schema}.charger_credentials ALTER COLUMN tenant_id DROP DEFAULT;

ALTER TABLE {schema}.tokens ADD COLUMN tenant_id text NOT NULL DEFAULT '';
ALTER TABLE {schema}.tokens DROP CONSTRAINT tokens_pkey;
ALTER TABLE {schema}.tokens ADD PRIMARY KEY (tenant_id, uid);
ALTER TABLE {schema}.tokens ALTER COLUMN tenant_id DROP DEFAULT;
DROP INDEX {schema}.tokens_uid_lower;
CREATE INDEX tokens_uid_lower ON {schema}.tokens (tenant_id, lower(uid));

ALTER TABLE {schema}.presence ADD COLUMN tenant_id text NOT NULL DEFAULT '';
ALTER TABLE {schema}.presence DROP CONSTRAINT presence_pkey;
ALTER TABLE {schema}.presence ADD PRIMARY KEY (tenant_id, charge_point_id);
ALTER TABLE {schema}.presence ALTER COLUMN tenant_id DROP DEFAULT;

ALTER TABLE {schema}.connector_status ADD COLUMN tenant_id text NOT NULL DEFAULT '';
ALTER TABLE {schema}.connector_status DROP CONSTRAINT connector_status_pkey;
ALTER TABLE {schema}.connector_status ADD PRIMARY KEY (tenant_id, charge_point_id, evse_id, connector_id);
ALTER TABLE {schema}.connector_status ALTER COLUMN tenant_id DROP DEFAULT;

-- The start de-duplication key of 1.6 transaction ids gains the tenant (the ids themselves stay
-- one sequence, unique across tenants). The old constraint's name was chosen by PostgreSQL.
ALTER TABLE {schema}.transactions ADD COLUMN tenant_id text NOT NULL DEFAULT '';
DO $$
DECLARE old text;
BEGIN
    SELECT conname INTO old FROM pg_constraint
    WHERE conrelid = '{schema}.transactions'::regclass AND contype = 'u';
    EXECUTE format('ALTER TABLE {schema}.transactions DROP CONSTRAINT %I', old);
END $$;
ALTER TABLE {schema}.transactions ADD CONSTRAINT transactions_start_key
    UNIQUE (tenant_id, charge_point_id, connector_id, id_tag, meter_start_wh, charger_time);
ALTER TABLE {schema}.transactions ALTER COLUMN tenant_id DROP DEFAULT;

-- The audit trail: frames recorded before this migration keep '' (the deployment's tenant) until
-- the backfill, and are purged by retention anyway.
ALTER TABLE {schema}.frames ADD COLUMN tenant_id text NOT NULL DEFAULT '';
DROP INDEX {schema}.frames_by_charger;
CREATE INDEX frames_by_charger ON {schema}.frames (tenant_id, charge_point_id, at);
ALTER TABLE {schema}.frames ALTER COLUMN tenant_id DROP DEFAULT;

-- One row until the gateway has given the rows above their tenant.
CREATE TABLE {schema}.tenant_backfill (pending boolean PRIMARY KEY);
INSERT INTO {schema}.tenant_backfill VALUES (true);

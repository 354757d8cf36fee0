-- Who holds a token (issue 13): its fleet, driver, vehicle and cost centre as the latest
-- `TokenAssigned` says; empty until it is assigned. A session records them at its start.
ALTER TABLE {schema}.tokens
    ADD COLUMN fleet_id       text NOT NULL DEFAULT '',
    ADD COLUMN driver_id      text NOT NULL DEFAULT '',
    ADD COLUMN vehicle_id     text NOT NULL DEFAULT '',
    ADD COLUMN cost_centre_id text NOT NULL DEFAULT '';
CREATE INDEX tokens_by_id ON {schema}.tokens (tenant_id, token_id);

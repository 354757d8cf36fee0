-- Who held each session's token when it started (the fleet, driver, vehicle and cost centre of
-- `SessionStarted`, ADR 037). A session's holder never changes; sessions without one are not here.
CREATE TABLE {schema}.session_holders (
    tenant_id      text NOT NULL,
    session_id     uuid NOT NULL,
    fleet_id       uuid,
    driver_id      uuid,
    vehicle_id     uuid,
    cost_centre_id uuid,
    PRIMARY KEY (tenant_id, session_id)
);
CREATE INDEX session_holders_by_fleet ON {schema}.session_holders (tenant_id, fleet_id);
CREATE INDEX session_holders_by_driver ON {schema}.session_holders (tenant_id, driver_id);

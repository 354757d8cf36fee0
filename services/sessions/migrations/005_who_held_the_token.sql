-- Who held the session's token at its start (issue 13): the fleet, driver, vehicle and cost centre
-- its latest assignment named then; later reassignments do not change them. Null: none (and for
-- sessions started before this was recorded).
ALTER TABLE {schema}.session_view
    ADD COLUMN fleet_id       uuid,
    ADD COLUMN driver_id      uuid,
    ADD COLUMN vehicle_id     uuid,
    ADD COLUMN cost_centre_id uuid;
CREATE INDEX session_view_by_fleet ON {schema}.session_view (tenant_id, fleet_id, seq);

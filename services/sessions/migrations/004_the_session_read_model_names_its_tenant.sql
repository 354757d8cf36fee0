-- Every read of the session read model filters by tenant (ADR 032). A session's tenant is the one
-- its events carry (the charger's, from the gateway's envelope): filled here from each session's
-- first event; a row whose events name none ('' ) gets the deployment's tenant (JOULE_TENANT) at
-- the next start, which a migration does not know.
ALTER TABLE {schema}.session_view ADD COLUMN tenant_id text NOT NULL DEFAULT '';
UPDATE {schema}.session_view v
    SET tenant_id = COALESCE(e.metadata->>'tenant_id', '')
    FROM {schema}.events e
    WHERE e.aggregate_type = 'ChargingSession' AND e.aggregate_id = v.id
      AND e.sequence = (SELECT min(sequence) FROM {schema}.events f
                        WHERE f.aggregate_type = 'ChargingSession' AND f.aggregate_id = v.id);
ALTER TABLE {schema}.session_view ALTER COLUMN tenant_id DROP DEFAULT;
CREATE INDEX ON {schema}.session_view (tenant_id, seq);
-- Empty once the start has filled in the deployment's tenant, so looking costs nothing.
CREATE INDEX session_view_without_tenant ON {schema}.session_view (id) WHERE tenant_id = '';

-- Per session, the last running cost shown on the charger (SessionCostUpdated.sequence) and
-- whether the final cost was: older or repeated updates are not shown.
CREATE TABLE {schema}.cost_display (
    session_id text PRIMARY KEY,
    sequence   bigint NOT NULL,
    final      boolean NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX cost_display_by_age ON {schema}.cost_display (updated_at);

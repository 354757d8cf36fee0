-- The highest SessionCostUpdated.sequence acted on per session: older and repeated ones are ignored.
CREATE TABLE {schema}.cost_updates (
    session_id uuid PRIMARY KEY,
    sequence   bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

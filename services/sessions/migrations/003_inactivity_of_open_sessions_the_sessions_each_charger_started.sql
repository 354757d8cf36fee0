ALTER TABLE {schema}.session_view ADD COLUMN last_activity_at timestamptz;
          UPDATE {schema}.session_view SET last_activity_at = COALESCE(started_at, now())
              WHERE status = 'active';
          CREATE INDEX ON {schema}.session_view (id) WHERE status = 'active';
          CREATE TABLE {schema}.charger_sessions (
              session_id      text PRIMARY KEY,
              tenant_id       text NOT NULL,
              charge_point_id text NOT NULL,
              connector_id    bigint NOT NULL,
              started_at      timestamptz NOT NULL
          );
          CREATE INDEX ON {schema}.charger_sessions (tenant_id, charge_point_id, connector_id);
          CREATE TABLE {schema}.matched_stops (
              stop_session_id text PRIMARY KEY,
              session_id      text NOT NULL,
              transaction_id  text NOT NULL,
              detail          text NOT NULL,
              matched_at      timestamptz NOT NULL DEFAULT now()
          );

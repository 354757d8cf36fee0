CREATE TABLE {schema}.session_view (
              seq             bigserial UNIQUE,
              id              text PRIMARY KEY,
              charger_id      text NOT NULL,
              charge_point_id text NOT NULL,
              connector_id    int NOT NULL DEFAULT 0,
              transaction_id  text NOT NULL,
              token_uid       text NOT NULL DEFAULT '',
              account_id      text NOT NULL DEFAULT '',
              status          text NOT NULL,
              started_at      timestamptz,
              stopped_at      timestamptz,
              meter_start_wh  numeric,
              meter_stop_wh   numeric,
              energy_wh       numeric,
              flags           text[] NOT NULL DEFAULT '{}',
              cost_excl_vat   numeric,
              cost_incl_vat   numeric,
              currency        text,
              invoice_id      text
          );
          CREATE INDEX ON {schema}.session_view (charger_id, seq);
          CREATE INDEX ON {schema}.session_view (account_id, seq);

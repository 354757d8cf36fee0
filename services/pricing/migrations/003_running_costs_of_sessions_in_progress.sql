CREATE TABLE {schema}.running_costs (
              session_id      text PRIMARY KEY,
              tenant_id       text NOT NULL,
              charger_id      text NOT NULL,
              charge_point_id text NOT NULL,
              connector_id    int NOT NULL,
              transaction_id  text NOT NULL,
              token_uid       text NOT NULL,
              account_id      text NOT NULL,
              started_at      timestamptz NOT NULL,
              meter_start_wh  numeric,
              -- The tariff version chosen at the start; NULL with unpriced_reason when none could be.
              tariff_id       text,
              tariff_version  int,
              tariff_source   text,
              tariff_json     text,
              discounts       jsonb,
              time_zone       text,
              currency        text,
              unpriced_reason text,
              readings        jsonb NOT NULL DEFAULT '[]',
              -- The latest estimate and the SessionMetered.sequence it answers.
              latest          jsonb,
              sequence        bigint NOT NULL DEFAULT 0,
              completed       boolean NOT NULL DEFAULT false,
              updated_at      timestamptz NOT NULL
          );

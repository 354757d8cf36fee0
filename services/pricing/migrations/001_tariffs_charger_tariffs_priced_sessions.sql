CREATE TABLE {schema}.tariffs (
              id          text PRIMARY KEY,
              tenant_id   text NOT NULL,
              ocpi_id     text NOT NULL,
              currency    text NOT NULL,
              -- Text, not jsonb: the tariff reads back exactly as it was returned when created.
              ocpi_json   text NOT NULL,
              created_at  timestamptz NOT NULL
          );
          CREATE TABLE {schema}.chargers (
              charger_id  text PRIMARY KEY,
              tariff_id   text NOT NULL DEFAULT '',
              time_zone   text NOT NULL DEFAULT '',
              updated_at  timestamptz NOT NULL
          );
          CREATE TABLE {schema}.priced_sessions (
              session_id     text PRIMARY KEY,
              tenant_id      text NOT NULL,
              status         text NOT NULL CHECK (status IN ('priced', 'failed')),
              charger_id     text NOT NULL,
              account_id     text NOT NULL DEFAULT '',
              token_uid      text NOT NULL DEFAULT '',
              tariff_id      text,
              currency       text,
              energy_wh      numeric,
              started_at     timestamptz,
              stopped_at     timestamptz,
              total_excl_vat numeric,
              total_incl_vat numeric,
              breakdown      jsonb,
              reason         text,
              recorded_at    timestamptz NOT NULL
          );
          CREATE INDEX ON {schema}.priced_sessions (account_id);

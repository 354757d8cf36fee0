ALTER TABLE {schema}.tariffs ADD COLUMN retired_at timestamptz;
          CREATE TABLE {schema}.tariff_versions (
              tariff_id         text NOT NULL,
              version           int NOT NULL,
              -- NULL: in force from the beginning (version 1).
              valid_from        timestamptz,
              ocpi_json         text NOT NULL,
              published_at      timestamptz NOT NULL,
              corrected_at      timestamptz,
              correction_reason text,
              PRIMARY KEY (tariff_id, version)
          );
          INSERT INTO {schema}.tariff_versions (tariff_id, version, valid_from, ocpi_json, published_at)
              SELECT id, 1, NULL, ocpi_json, created_at FROM {schema}.tariffs;
          CREATE TABLE {schema}.tariff_assignments (
              scope_type   text NOT NULL CHECK (scope_type IN ('site', 'charger', 'connector')),
              scope_id     text NOT NULL,
              connector_id int NOT NULL DEFAULT 0,
              tariff_id    text NOT NULL,
              assigned_at  timestamptz NOT NULL,
              PRIMARY KEY (scope_type, scope_id, connector_id)
          );
          CREATE TABLE {schema}.tariff_contracts (
              party_type    text NOT NULL CHECK (party_type IN ('account', 'fleet')),
              party_id      text NOT NULL,
              tariff_id     text NOT NULL,
              account_ids   text[] NOT NULL,
              discounts     jsonb NOT NULL,
              valid_from    timestamptz,
              valid_until   timestamptz,
              contracted_at timestamptz NOT NULL,
              PRIMARY KEY (party_type, party_id)
          );
          CREATE INDEX ON {schema}.tariff_contracts USING gin (account_ids);
          ALTER TABLE {schema}.chargers ADD COLUMN site_id text NOT NULL DEFAULT '';
          ALTER TABLE {schema}.priced_sessions
              ADD COLUMN tariff_version int,
              ADD COLUMN tariff_source text,
              ADD COLUMN connector_id int,
              ADD COLUMN time_zone text,
              -- After every adjustment; the first price stays in total_* and breakdown.
              ADD COLUMN current_total_excl_vat numeric,
              ADD COLUMN current_total_incl_vat numeric,
              ADD COLUMN current_lines jsonb,
              ADD COLUMN adjustments int NOT NULL DEFAULT 0;
          UPDATE {schema}.priced_sessions
             SET tariff_version = 1, time_zone = breakdown->>'time_zone',
                 current_total_excl_vat = total_excl_vat, current_total_incl_vat = total_incl_vat
           WHERE status = 'priced';
          CREATE INDEX ON {schema}.priced_sessions (tariff_id, started_at);
          CREATE TABLE {schema}.price_adjustments (
              adjustment_id  text PRIMARY KEY,
              session_id     text NOT NULL,
              rerating_id    text NOT NULL,
              tariff_id      text NOT NULL,
              tariff_version int NOT NULL,
              reason         text NOT NULL,
              delta_excl_vat numeric NOT NULL,
              delta_incl_vat numeric NOT NULL,
              total_excl_vat numeric NOT NULL,
              total_incl_vat numeric NOT NULL,
              lines          jsonb NOT NULL,
              adjusted_at    timestamptz NOT NULL
          );
          CREATE INDEX ON {schema}.price_adjustments (session_id);

-- Upper-cased: OCPI compares these case-insensitively. Not unique: tariffs created before
-- identities were unique may repeat one (new ones cannot: their id derives from it).
ALTER TABLE {schema}.tariffs
              ADD COLUMN country_code text NOT NULL DEFAULT '',
              ADD COLUMN party_id text NOT NULL DEFAULT '';
          UPDATE {schema}.tariffs
             SET country_code = upper(coalesce(ocpi_json::jsonb->>'country_code', '')),
                 party_id = upper(coalesce(ocpi_json::jsonb->>'party_id', ''));
          CREATE INDEX ON {schema}.tariffs (tenant_id, country_code, party_id, upper(ocpi_id));

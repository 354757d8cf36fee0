ALTER TABLE {schema}.session_view ADD COLUMN awaiting_since timestamptz;
          CREATE INDEX ON {schema}.session_view (awaiting_since) WHERE status = 'ended';
          CREATE TABLE {schema}.signed_meter_values (
              id                bigserial PRIMARY KEY,
              session_id        text NOT NULL,
              context           text NOT NULL,
              measurand         text NOT NULL,
              charger_time      timestamptz,
              format            text NOT NULL,
              signed_meter_data text NOT NULL,
              signing_method    text NOT NULL,
              encoding_method   text NOT NULL,
              public_key        text NOT NULL,
              data_hash         text GENERATED ALWAYS AS (md5(signed_meter_data)) STORED,
              UNIQUE (session_id, context, data_hash)
          );

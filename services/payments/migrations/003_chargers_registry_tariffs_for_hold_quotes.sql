CREATE TABLE {schema}.chargers (
    charger_id text PRIMARY KEY,
    tariff_id  text NOT NULL,
    time_zone  text NOT NULL
);

-- A take-over at a lower security profile is refused while the holder is open (ADR 026).
ALTER TABLE {schema}.presence ADD COLUMN security_profile smallint NOT NULL DEFAULT 0;

-- NULL: priced from start, stop and energy only (constant power, no idle time).
ALTER TABLE {schema}.priced_sessions ADD COLUMN metering jsonb;

-- The driver a `driver` key acts for (ADR 038): its sessions and receipts are the key's to read.
ALTER TABLE {schema}.api_keys ADD COLUMN driver_id uuid;

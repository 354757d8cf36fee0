-- Tariffs are listed a page at a time (ListTariffs, issue 14): a tariff's place in its tenant's
-- list is its `seq`, and a page's cursor the last `seq` it holds. Tariffs from before get theirs now.
ALTER TABLE {schema}.tariffs ADD COLUMN seq bigserial;
CREATE INDEX tariffs_by_tenant_seq ON {schema}.tariffs (tenant_id, seq);

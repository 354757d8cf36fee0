-- Payment methods and wallets are listed a page at a time (issue 14): a row's place in its list is
-- its `seq`, and a page's cursor the last `seq` it holds. Rows from before get theirs now.
ALTER TABLE {schema}.methods ADD COLUMN seq bigserial;
ALTER TABLE {schema}.wallets ADD COLUMN seq bigserial;
CREATE INDEX methods_by_account_seq ON {schema}.methods (tenant_id, account_id, seq);
CREATE INDEX wallets_by_account_seq ON {schema}.wallets (tenant_id, account_id, seq);

-- The general ledger's order and cursor: postings as they were recorded (issue 15, `ListPostings`).
ALTER TABLE {schema}.postings ADD COLUMN seq bigserial NOT NULL UNIQUE;
CREATE INDEX postings_by_tenant_seq ON {schema}.postings (tenant_id, seq);
CREATE INDEX postings_by_source ON {schema}.postings (tenant_id, source_type, source_id);

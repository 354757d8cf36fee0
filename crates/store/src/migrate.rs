//! Schema migrations. Every service owns one PostgreSQL schema; [`migrate`] creates it with the
//! event-store tables (postgres-es ships none), the outbox fed by a trigger, and then applies the
//! service's own migrations in order, once each, under an advisory lock so replicas can start together.
//!
//! A service keeps its migrations as numbered files, `services/<name>/migrations/NNN_what.sql`, and
//! lists them with [`migrations!`](crate::migrations): the number is the version, recorded in
//! `<schema>.schema_migrations`; a file is never edited once released, a change is a new file.

use sqlx::PgPool;

use crate::StoreError;

/// One schema change. `sql` may contain `{schema}`, replaced by the service's schema name.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: i32,
    pub name: &'static str,
    pub sql: &'static str,
}

const EVENT_STORE: &str = r#"
CREATE TABLE IF NOT EXISTS {schema}.events (
    aggregate_type text NOT NULL,
    aggregate_id   text NOT NULL,
    sequence       bigint CHECK (sequence >= 0) NOT NULL,
    event_type     text NOT NULL,
    event_version  text NOT NULL,
    payload        json NOT NULL,
    metadata       json NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
);
CREATE TABLE IF NOT EXISTS {schema}.snapshots (
    aggregate_type   text NOT NULL,
    aggregate_id     text NOT NULL,
    last_sequence    bigint CHECK (last_sequence >= 0) NOT NULL,
    current_snapshot bigint CHECK (current_snapshot >= 0) NOT NULL,
    payload          json NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, last_sequence)
);
-- Every committed event gets an outbox row in the same transaction; the relay deletes it once the
-- event is projected and published. `id` orders the relay's work.
CREATE TABLE IF NOT EXISTS {schema}.outbox (
    id             bigserial PRIMARY KEY,
    aggregate_type text NOT NULL,
    aggregate_id   text NOT NULL,
    sequence       bigint NOT NULL
);
CREATE OR REPLACE FUNCTION {schema}.enqueue_outbox() RETURNS trigger AS $$
BEGIN
    INSERT INTO {schema}.outbox (aggregate_type, aggregate_id, sequence)
    VALUES (NEW.aggregate_type, NEW.aggregate_id, NEW.sequence);
    PERFORM pg_notify('joule_outbox_{schema}', '');
    RETURN NEW;
END
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS events_outbox ON {schema}.events;
CREATE TRIGGER events_outbox AFTER INSERT ON {schema}.events
    FOR EACH ROW EXECUTE FUNCTION {schema}.enqueue_outbox();
"#;

pub(crate) fn check_schema(schema: &str) -> Result<(), StoreError> {
    let ok = !schema.is_empty()
        && schema.len() <= 40
        && schema
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !schema.starts_with(|c: char| c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(StoreError::InvalidSchema(schema.to_owned()))
    }
}

/// The migrations of the calling crate, from its `migrations/` folder, in order:
/// `joule_store::migrations![1 => "001_session_view", 2 => "002_awaiting"]` includes
/// `migrations/001_session_view.sql` as version 1, and so on. [`migrate`] refuses a list whose
/// versions do not match the files' numbers or do not ascend.
#[macro_export]
macro_rules! migrations {
    ($($version:literal => $file:literal),+ $(,)?) => {
        &[$($crate::migration!($version => $file)),+]
    };
}

/// One [`Migration`] of [`migrations!`], for a list that also holds migrations another crate
/// provides (`Migration { version, name, sql: other_crate::MIGRATION_SQL }`).
#[macro_export]
macro_rules! migration {
    ($version:literal => $file:literal) => {
        $crate::Migration {
            version: $version,
            name: $file,
            sql: include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/migrations/",
                $file,
                ".sql"
            )),
        }
    };
}

/// Checks that versions ascend and that each file name starts with its version, zero-padded to
/// three digits: a typo in the list would otherwise apply a migration under the wrong number.
pub(crate) fn check_migrations(migrations: &[Migration]) -> Result<(), StoreError> {
    let mut previous = 0;
    for m in migrations {
        let prefix = format!("{:03}_", m.version);
        if m.version <= previous || !m.name.starts_with(&prefix) {
            return Err(StoreError::InvalidMigration(format!(
                "{} (version {}): versions must ascend from 1 and each file be named `{prefix}...`",
                m.name, m.version
            )));
        }
        previous = m.version;
    }
    Ok(())
}

/// Creates `schema` with the event store and applies `migrations` that are not applied yet.
pub async fn migrate(
    pool: &PgPool,
    schema: &str,
    migrations: &[Migration],
) -> Result<(), StoreError> {
    check_schema(schema)?;
    check_migrations(migrations)?;
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
        .bind(format!("joule_migrate_{schema}"))
        .execute(&mut *tx)
        .await?;
    execute_script(
        &mut tx,
        format!(
            "CREATE SCHEMA IF NOT EXISTS {schema};
             CREATE TABLE IF NOT EXISTS {schema}.schema_migrations (
                 version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());"
        ),
    )
    .await?;
    let applied: Vec<i32> =
        sqlx::query_scalar(&format!("SELECT version FROM {schema}.schema_migrations"))
            .fetch_all(&mut *tx)
            .await?;
    let base = Migration {
        version: 0,
        name: "event store and outbox",
        sql: EVENT_STORE,
    };
    let pending: Vec<(Migration, String)> = std::iter::once(base)
        .chain(migrations.iter().copied())
        .filter(|m| !applied.contains(&m.version))
        .map(|m| (m, m.sql.replace("{schema}", schema)))
        .collect();
    for (m, sql) in pending {
        execute_script(&mut tx, sql).await?;
        sqlx::query(&format!(
            "INSERT INTO {schema}.schema_migrations (version, name) VALUES ($1, $2)"
        ))
        .bind(m.version)
        .bind(m.name)
        .execute(&mut *tx)
        .await?;
        tracing::info!(
            schema,
            version = m.version,
            name = m.name,
            "migration applied"
        );
    }
    tx.commit().await?;
    Ok(())
}

// A multi-statement script runs through the simple query protocol (`Executor::execute` on a string).
// Boxing the future with the string it owns keeps `migrate` provably `Send` (sqlx's `raw_sql` is not,
// for higher-ranked lifetime reasons).
fn execute_script<'c>(
    tx: &'c mut sqlx::Transaction<'static, sqlx::Postgres>,
    sql: String,
) -> futures::future::BoxFuture<'c, Result<(), sqlx::Error>> {
    Box::pin(async move {
        sqlx::Executor::execute(&mut **tx, sql.as_str()).await?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(version: i32, name: &'static str) -> Migration {
        Migration {
            version,
            name,
            sql: "",
        }
    }

    #[test]
    fn versions_ascend_and_match_their_file_names() {
        assert!(check_migrations(&[m(1, "001_a"), m(2, "002_b"), m(101, "101_c")]).is_ok());
        assert!(check_migrations(&[m(2, "001_a")]).is_err());
        assert!(check_migrations(&[m(2, "002_a"), m(1, "001_b")]).is_err());
        assert!(check_migrations(&[m(1, "001_a"), m(1, "001_b")]).is_err());
        assert!(check_migrations(&[m(0, "000_a")]).is_err());
        assert!(check_migrations(&[m(1, "1_a")]).is_err());
    }
}

/**
 * The config generation: one counter that every write to the config tables a model step reads
 * (site and user configs, model configs, providers) increments in the writing transaction. Worker
 * processes cache those rows and read the counter inside a statement they run anyway, so a change
 * committed by any process is seen by the next step, with no config reads while nothing changes.
 */
import { sql, type Kysely } from 'kysely';

const TABLES = ['site_configs', 'user_configs', 'chat_model_configs', 'chat_providers'];

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE config_generation (
      singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
      generation bigint NOT NULL
    );
    INSERT INTO config_generation (singleton, generation) VALUES (true, 1);

    CREATE FUNCTION bump_config_generation() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      UPDATE config_generation SET generation = generation + 1;
      RETURN NULL;
    END
    $$;
  `.execute(db);
  for (const table of TABLES) {
    // Per statement, not per row: one bump per write, also for TRUNCATE and for cascaded deletes.
    await sql`
      CREATE TRIGGER ${sql.id(`${table}_bump_config_generation`)}
        AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON ${sql.table(table)}
        FOR EACH STATEMENT EXECUTE FUNCTION bump_config_generation();
    `.execute(db);
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of TABLES) {
    await sql`DROP TRIGGER ${sql.id(`${table}_bump_config_generation`)} ON ${sql.table(table)};`.execute(db);
  }
  await sql`DROP FUNCTION bump_config_generation(); DROP TABLE config_generation;`.execute(db);
}

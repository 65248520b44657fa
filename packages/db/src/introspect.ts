// A comparable description of a database schema, read from Postgres's catalogs: what the
// drift check compares between "migrations applied" and "schema.prisma rendered by Prisma".
import pg from "pg";

export interface SchemaShape {
  enums: string[];
  columns: string[];
  indexes: string[];
  constraints: string[];
}

export async function introspect(url: string): Promise<SchemaShape> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const q = async (sql: string) => (await c.query<{ v: string }>(sql)).rows.map((r) => r.v).sort();
    return {
      enums: await q(`SELECT t.typname || ': ' || string_agg(e.enumlabel, ', ' ORDER BY e.enumsortorder) AS v
                      FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid JOIN pg_namespace n ON n.oid = t.typnamespace
                      WHERE n.nspname = 'public' GROUP BY t.typname`),
      columns: await q(`SELECT table_name || '.' || column_name || ' ' || udt_name
                          || CASE WHEN is_nullable = 'NO' THEN ' NOT NULL' ELSE '' END
                          || COALESCE(' DEFAULT ' || column_default, '') AS v
                        FROM information_schema.columns
                        WHERE table_schema = 'public' AND table_name <> '_prisma_migrations'`),
      indexes: await q(`SELECT indexdef AS v FROM pg_indexes WHERE schemaname = 'public' AND tablename <> '_prisma_migrations'`),
      constraints: await q(`SELECT cl.relname || ' ' || co.conname || ' ' || pg_get_constraintdef(co.oid) AS v
                            FROM pg_constraint co JOIN pg_class cl ON cl.oid = co.conrelid JOIN pg_namespace n ON n.oid = cl.relnamespace
                            -- A constraint trigger (contype 't') is a trigger, which migrations add and
                            -- schema.prisma cannot say: compared no more than the other triggers.
                            WHERE n.nspname = 'public' AND cl.relname <> '_prisma_migrations' AND co.contype <> 't'`),
    };
  } finally {
    await c.end();
  }
}

/** Lines present on one side only, prefixed "- migrations:" / "+ schema.prisma:". */
export function diffShapes(migrated: SchemaShape, expected: SchemaShape): string[] {
  const out: string[] = [];
  for (const key of ["enums", "columns", "indexes", "constraints"] as const) {
    const a = new Set(migrated[key]);
    const b = new Set(expected[key]);
    for (const v of a) if (!b.has(v)) out.push(`- migrations only (${key}): ${v}`);
    for (const v of b) if (!a.has(v)) out.push(`+ schema.prisma only (${key}): ${v}`);
  }
  return out;
}

// The lake's two users, created once, when the mongo container initialises an empty data
// directory (docker-entrypoint-initdb.d runs as the root user). Passwords come from the
// container's environment, which docker-compose.yml fills from the env file.
//   lake_writer: readWrite on the lake (ingestion: inserts responses, creates indexes)
//   lake_reader: read on the lake (the dashboard, `criptopipe lake show`)
const lakeName = process.env.CRIPTOPIPE_MONGO_DB || "lake";
const lake = db.getSiblingDB(lakeName);
for (const [user, variable, role] of [
  ["lake_writer", "MONGO_WRITER_PASSWORD", "readWrite"],
  ["lake_reader", "MONGO_READER_PASSWORD", "read"],
]) {
  const pwd = process.env[variable];
  if (!pwd) {
    throw new Error(`${variable} is not set: the ${user} user cannot be created`);
  }
  lake.createUser({ user, pwd, roles: [{ role, db: lakeName }], mechanisms: ["SCRAM-SHA-256"] });
}

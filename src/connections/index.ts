// Public API of the connections module: profiles, resolution, temporary password files and redaction.

export * from './types';
export { TIMEOUT_DEFAULTS, DEFAULT_APPLICATION_NAME, DEFAULT_CONNECT_TIMEOUT_S, type TimeoutDefaults } from './defaults';
export { PROFILES_FILE_NAME, PROFILE_KEYS, PASSWORD_HELP, findProfilesFile, profilesSearchPath, loadProfiles, parseProfiles } from './profilesFile';
export { saveProfile } from './saveProfile';
export { resolveConnection, writeTempPgpass, connectionShellEnv, LIBPQ_CONNECTION_VARS, type ResolveOptions } from './resolve';
export { lookupPgpass, removeStalePgpassFiles, PGPASS_DIR_PREFIX, type TempPgpass, type PgpassResult } from './pgpass';
export { findService, serviceFileCandidates, type ServiceDefinition } from './serviceFile';
export { isConnectionUri, parseConnectionUri } from './uri';
export { redact, stripUriPassword, REDACTED, Redactor, StreamRedactor } from './redact';

// floe/auth: etcd's authentication and authorization. `state.ts` is the
// replicated auth store (users, roles, permissions, enabled, revision) that
// the MVCC state machine applies from the log and keeps as one record;
// `perms.ts` the key-range permission check; `password.ts` the slow salted
// hashes (computed before proposing, so apply stays deterministic);
// `tokens.ts` the member-local simple tokens.

export { AuthError, type AuthErrorCode } from "./errors.ts";
export { type JwtOptions, JwtTokens, parseGoDuration, parseJwtSpec } from "./jwt.ts";
export { hashPassword, verifyPassword } from "./password.ts";
export { type KeyRange, mergeIntervals, PermType, permits } from "./perms.ts";
export {
  type AuthChange,
  type AuthInfo,
  type AuthPermission,
  type AuthRole,
  AuthState,
  type AuthUser,
  ROOT,
} from "./state.ts";
export { SimpleTokens } from "./tokens.ts";

// Refusals of the auth store. Each code is the name of the etcd error the
// client sees (src/api/errors.ts holds the messages and gRPC statuses); the
// detail is for logs.

export type AuthErrorCode =
  | "ROOT_USER_NOT_EXIST"
  | "ROOT_ROLE_NOT_EXIST"
  | "USER_ALREADY_EXIST"
  | "USER_EMPTY"
  | "USER_NOT_FOUND"
  | "ROLE_ALREADY_EXIST"
  | "ROLE_NOT_FOUND"
  | "ROLE_EMPTY"
  | "AUTH_FAILED"
  | "PERMISSION_DENIED"
  | "ROLE_NOT_GRANTED"
  | "PERMISSION_NOT_GRANTED"
  | "AUTH_NOT_ENABLED"
  | "INVALID_AUTH_TOKEN"
  | "INVALID_AUTH_MGMT"
  | "AUTH_OLD_REVISION";

export class AuthError extends Error {
  override name = "AuthError";
  constructor(
    readonly code: AuthErrorCode,
    readonly detail = "",
  ) {
    super(detail === "" ? code : `${code}: ${detail}`);
  }
}

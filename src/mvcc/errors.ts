// Errors the state machine returns as values (a request etcd would refuse)
// and assertion failures it throws (states that must be impossible).
//
// Each MvccError carries a stable `code` and etcd's exact client-facing
// message, because clients match on those strings; what was wrong and the
// value seen go to `detail`, for logs. src/api/errors.ts maps codes to gRPC
// statuses. Codes and their etcd messages:
//
//   EmptyKey          etcdserver: key is not provided                     (InvalidArgument)
//   KeyNotFound       etcdserver: key not found                           (InvalidArgument)
//   ValueProvided     etcdserver: value is provided                       (InvalidArgument)
//   LeaseProvided     etcdserver: lease is provided                       (InvalidArgument)
//   TooManyOps        etcdserver: too many operations in txn request      (InvalidArgument)
//   DuplicateKey      etcdserver: duplicate key given in txn request      (InvalidArgument)
//   Compacted         etcdserver: mvcc: required revision has been compacted (OutOfRange)
//   FutureRev         etcdserver: mvcc: required revision is a future revision (OutOfRange)
//   LeaseNotFound     etcdserver: requested lease not found               (NotFound)
//   LeaseExists       etcdserver: lease already exists                    (FailedPrecondition)
//   LeaseTTLTooLarge  etcdserver: too large lease TTL                     (OutOfRange)
//   NotPrimary        etcdserver: not a primary lessor (the server forwards to the leader)
//   TooManyWatchers   mvcc: too many watchers                             (ResourceExhausted)
//   NoSpace           etcdserver: mvcc: database space exceeded           (ResourceExhausted)
//   RestoreRequired   mvcc: storage holds a partially restored snapshot   (Unavailable)
//   Corrupt           mvcc: storage is corrupt                            (DataLoss)
//   Failed            mvcc: store failed on an earlier storage error      (Unavailable)

export type MvccErrorCode =
  | "EmptyKey"
  | "KeyNotFound"
  | "ValueProvided"
  | "LeaseProvided"
  | "TooManyOps"
  | "DuplicateKey"
  | "Compacted"
  | "FutureRev"
  | "LeaseNotFound"
  | "LeaseExists"
  | "LeaseTTLTooLarge"
  | "NotPrimary"
  | "TooManyWatchers"
  | "NoSpace"
  | "RestoreRequired"
  | "Corrupt"
  | "Failed";

export const MVCC_ERROR_MESSAGES: Readonly<Record<MvccErrorCode, string>> = {
  EmptyKey: "etcdserver: key is not provided",
  KeyNotFound: "etcdserver: key not found",
  ValueProvided: "etcdserver: value is provided",
  LeaseProvided: "etcdserver: lease is provided",
  TooManyOps: "etcdserver: too many operations in txn request",
  DuplicateKey: "etcdserver: duplicate key given in txn request",
  Compacted: "etcdserver: mvcc: required revision has been compacted",
  FutureRev: "etcdserver: mvcc: required revision is a future revision",
  LeaseNotFound: "etcdserver: requested lease not found",
  LeaseExists: "etcdserver: lease already exists",
  LeaseTTLTooLarge: "etcdserver: too large lease TTL",
  NotPrimary: "etcdserver: not a primary lessor",
  TooManyWatchers: "mvcc: too many watchers",
  NoSpace: "etcdserver: mvcc: database space exceeded",
  RestoreRequired: "mvcc: storage holds a partially restored snapshot; restore it again",
  Corrupt: "mvcc: storage is corrupt",
  Failed: "mvcc: store failed on an earlier storage error",
};

export class MvccError extends Error {
  constructor(
    readonly code: MvccErrorCode,
    /** What was wrong and the value seen; not part of the client-facing message. */
    readonly detail?: string,
  ) {
    super(MVCC_ERROR_MESSAGES[code]);
    this.name = "MvccError";
  }
}

/** An invariant of the state machine does not hold: a bug, never a user error. */
export class MvccAssertionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MvccAssertionError";
  }
}

export function assert(cond: boolean, message: string | (() => string)): asserts cond {
  if (!cond) throw new MvccAssertionError(typeof message === "string" ? message : message());
}

export function assertRevision(rev: number, what: string): void {
  assert(Number.isSafeInteger(rev), () => `${what} must be a safe integer, got ${rev}`);
}

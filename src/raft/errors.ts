// Errors the core returns as values (proposals it refuses) and assertion
// failures it throws (states that must be impossible).

export class RaftError extends Error {
  constructor(
    readonly code: "ProposalDropped" | "StepLocalMsg" | "StepPeerNotFound" | "ConfChangeRefused",
    message: string,
  ) {
    super(message);
    this.name = "RaftError";
  }
}

export const errProposalDropped = (why: string): RaftError =>
  new RaftError("ProposalDropped", `raft proposal dropped: ${why}`);

/** An invariant of the core does not hold: a bug, never a user error. */
export class RaftAssertionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RaftAssertionError";
  }
}

export function assert(cond: boolean, message: string | (() => string)): asserts cond {
  if (!cond) throw new RaftAssertionError(typeof message === "string" ? message : message());
}
